// Packing a real image end to end: our tap VHD inside a tar with the single entry `0.vhd`, one gzip member,
// hashes equal to md5sum/sha512sum, judged by GNU tar, Python's tarfile (r|gz), qemu-img and our verifier.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { execFile } from 'node:child_process';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { test } from 'node:test';
import { BlockPool } from '../../src/disk/blockPool.js';
import { identityFrom, openImageSource, packImage } from '../../src/pack/pipeline.js';
import { verifyTgz } from '../../src/pack/verifyTgz.js';
import { tempDir } from '../helpers/tmp.js';
import { MiB, assertTapVhd, qemuCompare, run, seededBytes } from '../disk/support.js';
import { gnuTarList, pythonTarCheck, saveStream } from './support.js';

/** A 64 MiB qcow2 with 6 MiB of random data and 4 MiB of text-like data (so the gzip has work of both kinds). */
async function makeSource(dir: string): Promise<string> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(64 * MiB);
  await fh.write(seededBytes(6 * MiB, 'pack-6m'), 0, 6 * MiB, 3 * MiB);
  const text = Buffer.from(
    'xenimage packs tap VHDs into tarballs for OpenStack on XenServer. '.repeat(70000).slice(0, 4 * MiB),
  );
  await fh.write(text, 0, text.length, 40 * MiB);
  await fh.close();
  const qcow2 = path.join(dir, 'src.qcow2');
  await run('qemu-img', ['convert', '-O', 'qcow2', raw, qcow2]);
  return qcow2;
}

for (const compressor of ['threads', 'pigz', 'zlib'] as const) {
  test(`packImage (${compressor}): one 0.vhd entry, one gzip member, hashes match, content identical`, async (t) => {
    const dir = await tempDir(t);
    const src = await makeSource(dir);
    const image = await openImageSource({ path: src });
    t.after(() => image.close());
    assert.equal(image.format, 'qcow2');
    assert.equal(image.virtualSize, 64 * MiB);
    const progress: number[] = [];
    const packed = packImage(image, { compressor, onProgress: (p) => progress.push(p.bytesDone) });
    assert.equal(packed.vhdBytes, image.vhdSize, 'size known before the first byte');
    const tgz = path.join(dir, 'image.tgz');
    await saveStream(packed.stream, tgz);
    const result = await packed.result;
    assert.equal(result.compressor, compressor);
    assert.equal(result.tgzBytes, (await stat(tgz)).size);
    assert.equal(result.md5, (await run('md5sum', [tgz])).split(' ')[0]);
    assert.equal(result.sha512, (await run('sha512sum', [tgz])).split(' ')[0]);
    assert.ok(progress.length > 10 && progress.at(-1) === packed.vhdBytes, 'progress reported up to the VHD size');

    assert.deepEqual(await gnuTarList(tgz), [{ type: '-', size: packed.vhdBytes, name: '0.vhd' }]);
    const py = await pythonTarCheck(tgz);
    assert.deepEqual(py.entries, [{ name: '0.vhd', size: packed.vhdBytes, read: packed.vhdBytes, type: '0' }]);
    assert.equal(py.singleMember, true, 'exactly one gzip member');

    await run('tar', ['-xzf', tgz, '-C', dir]);
    const vhd = path.join(dir, '0.vhd');
    await assertTapVhd(vhd, image.virtualSize);
    assert.match(await qemuCompare(src, vhd, 'qcow2'), /identical/);
    const report = await verifyTgz(createReadStream(tgz), { expectedVirtualSize: image.virtualSize });
    assert.equal(report.md5, result.md5);
    assert.equal(report.vhd.allocatedBlocks, image.allocatedBlocks);
  });
}

test('the same identity and mtime give byte-identical archives (a second pass for Content-Length uploads)', async (t) => {
  const dir = await tempDir(t);
  const image = await openImageSource({ path: await makeSource(dir) });
  t.after(() => image.close());
  const first = packImage(image, { level: 1 });
  await saveStream(first.stream, path.join(dir, 'a.tgz'));
  const r1 = await first.result;
  const second = packImage(image, { level: 1, identity: identityFrom(r1.identity), mtime: r1.mtime });
  await saveStream(second.stream, path.join(dir, 'b.tgz'));
  const r2 = await second.result;
  assert.equal(r2.sha512, r1.sha512);
  assert.deepEqual(await readFile(path.join(dir, 'a.tgz')), await readFile(path.join(dir, 'b.tgz')));
  // The worker-thread gzip does not depend on the thread count.
  const one = packImage(image, { level: 1, threads: 3, identity: identityFrom(r1.identity), mtime: r1.mtime });
  await saveStream(one.stream, path.join(dir, 'c.tgz'));
  assert.equal((await one.result).sha512, r1.sha512);
});

test('a bad compression level is refused before anything is read', async (t) => {
  const dir = await tempDir(t);
  const image = await openImageSource({ path: await makeSource(dir) });
  t.after(() => image.close());
  for (const level of [0, 10, 2.5]) assert.throws(() => packImage(image, { level }), { name: 'InvalidInput' });
});

test('without pigz the pigz engine falls back to single-thread zlib, still one member', async (t) => {
  const dir = await tempDir(t);
  const script = path.join(dir, 'fallback.mjs');
  const compressor = new URL('../../src/pack/compressor.js', import.meta.url).href;
  await writeFile(
    script,
    `import { createCompressor } from '${compressor}';
     import { gunzipSync } from 'node:zlib';
     const { stream, kind } = createCompressor({ kind: 'pigz', level: 6 });
     const chunks = []; stream.on('data', (c) => chunks.push(c));
     stream.end(Buffer.from('hello'.repeat(1000)));
     stream.on('end', () => console.log(JSON.stringify({ kind, ok: gunzipSync(Buffer.concat(chunks)).length === 5000 })));`,
  );
  const out = await promisify(execFile)(process.execPath, [script], {
    env: { ...process.env, XENIMAGE_PIGZ: '/nonexistent/pigz' },
  });
  assert.deepEqual(JSON.parse(out.stdout), { kind: 'zlib', ok: true });
});

for (const compressor of ['threads', 'pigz'] as const) {
  test(`block buffers are reused once the ${compressor} compressor is done with them, and the content stays exact`, async (t) => {
    const dir = await tempDir(t);
    const raw = path.join(dir, 'many.raw');
    const fh = await open(raw, 'w');
    await fh.truncate(96 * MiB);
    for (let i = 0; i < 40; i++)
      await fh.write(seededBytes(2 * MiB, `pool-${i}`), 0, 2 * MiB, i * 2 * MiB + (i % 3) * 4096);
    await fh.close();
    const image = await openImageSource({ path: raw });
    t.after(() => image.close());
    const pool = new BlockPool();
    const packed = packImage(image, { compressor, level: 1, pool });
    const tgz = path.join(dir, 'many.tgz');
    await saveStream(packed.stream, tgz);
    await packed.result;
    assert.ok(image.allocatedBlocks >= 40);
    assert.ok(pool.allocated < 16, `${pool.allocated} buffers allocated for ${image.allocatedBlocks} blocks`);
    await run('tar', ['-xzf', tgz, '-C', dir]);
    assert.match(await qemuCompare(raw, path.join(dir, '0.vhd'), 'raw'), /identical/);
  });
}

test('a pool whose consumer never reports does not keep buffers', () => {
  const pool = new BlockPool(8, 4);
  for (let i = 0; i < 100; i++) pool.lend(pool.acquire(), (i + 1) * 10);
  assert.equal(pool.lentCount, 4);
  pool.releaseUpTo(965);
  assert.equal(
    pool.lentCount,
    4,
    'only the last four (ending at 970…1000) are tracked; forgotten ones are never reused',
  );
  pool.releaseUpTo(995);
  assert.equal(pool.lentCount, 1);
  pool.releaseUpTo(1000);
  assert.equal(pool.lentCount, 0);
  const before = pool.allocated;
  pool.acquire();
  assert.equal(pool.allocated, before, 'a released buffer is reused');
});
