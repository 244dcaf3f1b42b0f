// Images read over HTTP with Range requests from a local server: same result as from the file, few requests
// thanks to the page cache, and typed errors for servers without Range, changed images, 404 and bad auth.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { openDisk } from '../../src/disk/openDisk.js';
import { tempDir } from '../helpers/tmp.js';
import { serveDir } from './httpServer.js';
import { MiB, assertTapVhd, qemuCompare, run, writeTapVhd } from './support.js';

async function compressedQcow2(dir: string): Promise<string> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(32 * MiB);
  const text = Buffer.from('a qcow2 served over HTTP, read with Range requests. '.repeat(120000)).subarray(0, 6 * MiB);
  await fh.write(text, 0, text.length, 5 * MiB);
  await fh.close();
  const file = path.join(dir, 'disk.qcow2');
  await run('qemu-img', ['convert', '-c', '-O', 'qcow2', raw, file]);
  return file;
}

test('a compressed qcow2 over HTTP converts like the file, in few requests', async (t) => {
  const dir = await tempDir(t);
  const file = await compressedQcow2(dir);
  const server = await serveDir(dir);
  t.after(() => server.close());
  const out = path.join(dir, 'out.vhd');
  const written = await writeTapVhd({ url: server.url('disk.qcow2') }, out);
  assert.equal(written.format, 'qcow2');
  assert.match(await qemuCompare(file, out, 'qcow2'), /identical/);
  await assertTapVhd(out, written.virtualSize);
  // 96 compressed 64 KiB clusters and their L2 table: the 1 MiB page cache keeps it to a handful of requests.
  assert.ok(server.requests < 20, `${server.requests} requests`);
});

test('raw and VHD over HTTP; credentials in the URL become Basic auth and never appear in errors', async (t) => {
  const dir = await tempDir(t);
  const file = await compressedQcow2(dir);
  await run('qemu-img', ['convert', '-O', 'vpc', file, path.join(dir, 'disk.vhd')]);
  await run('qemu-img', ['convert', '-O', 'raw', file, path.join(dir, 'disk.img')]);
  const server = await serveDir(dir, { auth: 'reader:s3cret-pass' });
  t.after(() => server.close());
  for (const name of ['disk.vhd', 'disk.img']) {
    const out = path.join(dir, `${name}.out.vhd`);
    const url = server.url(name).replace('http://', 'http://reader:s3cret-pass@');
    const written = await writeTapVhd({ url }, out);
    assert.equal(written.format, name.endsWith('.vhd') ? 'vhd' : 'raw');
    assert.match(await qemuCompare(file, out, 'qcow2'), /identical/);
  }
  await assert.rejects(
    openDisk({ url: server.url('disk.vhd').replace('http://', 'http://reader:wrong-pass@') + '?token=abc' }),
    (err: Error & { type?: string }) => {
      assert.equal(err.type, 'DiskSourceDenied');
      assert.doesNotMatch(err.message, /wrong-pass|token=abc/);
      return true;
    },
  );
});

test('a server without Range support, a missing image, a changing image, a flaky server', async (t) => {
  const dir = await tempDir(t);
  // Uncompressed, so the blocks are read with their own requests after the metadata.
  await run('qemu-img', ['convert', '-O', 'qcow2', await compressedQcow2(dir), path.join(dir, 'plain.qcow2')]);
  const server = await serveDir(dir, { noRange: true });
  t.after(() => server.close());
  await assert.rejects(openDisk({ url: server.url('disk.qcow2') }), {
    type: 'DiskSourceRangeUnsupported',
    retryable: false,
  });
  server.mode = {};
  await assert.rejects(openDisk({ url: server.url('nothing.qcow2') }), {
    type: 'DiskSourceNotFound',
    retryable: false,
  });

  server.mode = { changeEtagAfter: 2 };
  server.requests = 0;
  await assert.rejects(writeTapVhd({ url: server.url('plain.qcow2') }, path.join(dir, 'x.vhd')), {
    type: 'DiskSourceChanged',
    retryable: true,
  });

  server.mode = { failFirst: 2 };
  server.requests = 0;
  const out = path.join(dir, 'flaky.vhd');
  await writeTapVhd({ url: server.url('disk.qcow2') }, out); // two 503s are retried
  assert.match(await qemuCompare(path.join(dir, 'disk.qcow2'), out, 'qcow2'), /identical/);

  server.mode = { failFirst: 100 };
  server.requests = 0;
  await assert.rejects(openDisk({ url: server.url('disk.qcow2') }), { type: 'DiskSourceUnavailable', retryable: true });
});
