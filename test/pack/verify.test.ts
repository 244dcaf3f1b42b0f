// The verification helper against good and broken tarballs made by us, by GNU tar and by hand.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { openImageSource, packImage } from '../../src/pack/pipeline.js';
import { verifyTgz } from '../../src/pack/verifyTgz.js';
import { tempDir } from '../helpers/tmp.js';
import { MiB, run } from '../disk/support.js';
import { saveStream } from './support.js';

async function goodTgz(dir: string): Promise<{ tgz: string; virtualSize: number; allocated: number; raw: string }> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(30 * MiB + 512);
  await fh.write(Buffer.alloc(3 * MiB, 0x5e), 0, 3 * MiB, 7 * MiB);
  await fh.close();
  const image = await openImageSource({ path: raw });
  const packed = packImage(image, { level: 1 });
  const tgz = path.join(dir, 'good.tgz');
  await saveStream(packed.stream, tgz);
  await packed.result;
  await image.close();
  return { tgz, virtualSize: image.virtualSize, allocated: image.allocatedBlocks, raw };
}

function invalid(pattern: RegExp) {
  return (err: Error & { type?: string; retryable?: boolean }) => {
    assert.equal(err.type, 'ImageInvalid', err.message);
    assert.equal(err.retryable, false);
    assert.match(err.message, pattern);
    return true;
  };
}

/** Repacks a modified 0.vhd with GNU tar + gzip. */
async function repack(dir: string, vhd: Buffer, name = '0.vhd'): Promise<string> {
  const work = path.join(dir, `repack-${Math.random().toString(36).slice(2)}`);
  await run('mkdir', ['-p', work]);
  await writeFile(path.join(work, name), vhd);
  const tgz = path.join(dir, `${path.basename(work)}.tgz`);
  await run('tar', ['-czf', tgz, '-C', work, name]);
  return tgz;
}

test('a packed image verifies: one member, one 0.vhd, valid tap VHD of the expected size', async (t) => {
  const dir = await tempDir(t);
  const { tgz, virtualSize, allocated } = await goodTgz(dir);
  const report = await verifyTgz(createReadStream(tgz), { expectedVirtualSize: virtualSize });
  assert.equal(report.gzipMembers, 1);
  assert.equal(report.entry.name, '0.vhd');
  assert.equal(report.vhd.virtualSize, 32 * MiB);
  assert.equal(report.vhd.allocatedBlocks, allocated);
  assert.equal(report.vhd.creator, 'tap');
  assert.equal(report.vhd.creatorVersion, '1.3');
  assert.equal(report.md5, (await run('md5sum', [tgz])).split(' ')[0]);
  await assert.rejects(
    verifyTgz(createReadStream(tgz), { expectedVirtualSize: 64 * MiB }),
    invalid(/expected 67108864/),
  );
});

test('broken tarballs: two gzip members, truncation, extra or misnamed entries, non-tap VHD, broken VHD structures', async (t) => {
  const dir = await tempDir(t);
  const { tgz, raw } = await goodTgz(dir);
  const bytes = await readFile(tgz);
  const double = path.join(dir, 'double.tgz');
  await writeFile(double, Buffer.concat([bytes, bytes]));
  await assert.rejects(verifyTgz(createReadStream(double)), invalid(/more than one member/));
  const cut = path.join(dir, 'cut.tgz');
  await writeFile(cut, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(verifyTgz(createReadStream(cut)), invalid(/./));
  const notGzip = path.join(dir, 'plain.tar');
  await writeFile(notGzip, Buffer.alloc(2048));
  await assert.rejects(verifyTgz(createReadStream(notGzip)), invalid(/not gzip/));

  await run('tar', ['-xzf', tgz, '-C', dir]);
  const vhd = await readFile(path.join(dir, '0.vhd'));
  await assert.rejects(verifyTgz(createReadStream(await repack(dir, vhd, 'disk.vhd'))), invalid(/'disk.vhd'/));
  const two = path.join(dir, 'two.tgz');
  await writeFile(path.join(dir, 'extra.txt'), 'x');
  await run('tar', ['-czf', two, '-C', dir, '0.vhd', 'extra.txt']);
  await assert.rejects(verifyTgz(createReadStream(two)), invalid(/more than one entry/));

  const qemuVhd = path.join(dir, 'qemu.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, qemuVhd]);
  await assert.rejects(
    verifyTgz(createReadStream(await repack(dir, await readFile(qemuVhd)))),
    invalid(/creator 'qemu'/),
  );

  const footerChanged = Buffer.from(vhd);
  footerChanged.writeUInt32BE(
    footerChanged.readUInt32BE(footerChanged.length - 512 + 24) + 1,
    footerChanged.length - 512 + 24,
  );
  footerChanged.writeUInt32BE(
    footerChanged.readUInt32BE(footerChanged.length - 512 + 64) - 1,
    footerChanged.length - 512 + 64,
  );
  await assert.rejects(verifyTgz(createReadStream(await repack(dir, footerChanged))), invalid(/footers do not match/));

  const batmapBroken = Buffer.from(vhd);
  batmapBroken[1536 + 512 + 512] = batmapBroken[1536 + 512 + 512]! ^ 0x01; // first batmap byte (entries 16 → BAT is one sector)
  await assert.rejects(verifyTgz(createReadStream(await repack(dir, batmapBroken))), invalid(/batmap/));

  const batBeyond = Buffer.from(vhd);
  batBeyond.writeUInt32BE(0x00ffff00, 1536 + 4 * 15);
  await assert.rejects(verifyTgz(createReadStream(await repack(dir, batBeyond))), invalid(/beyond the footer|batmap/));
});
