// The tar layer above 8 GiB: a synthetic 8 GiB + 3 MiB zero stream goes through the same tar.gz code as images
// (tar-stream's GNU base-256 size field) and is read back by GNU tar and by Python's tarfile in `r|gz` mode.
// About a minute of CPU (8 GiB inflated by each reader): the one big test of the suite.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { test } from 'node:test';
import { tarGz } from '../../src/pack/tarGz.js';
import { tempDir } from '../helpers/tmp.js';
import { GiB, MiB, run } from '../disk/support.js';
import { gnuTarList, pythonTarCheck, saveStream } from './support.js';

function zeros(total: number): Readable {
  const chunk = Buffer.alloc(MiB);
  let left = total;
  return new Readable({
    read() {
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n > 0 ? chunk.subarray(0, n) : null);
    },
  });
}

async function firstInflatedBytes(file: string, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  const gunzip = createReadStream(file).pipe(createGunzip());
  for await (const c of gunzip as AsyncIterable<Buffer>) {
    chunks.push(c);
    have += c.length;
    if (have >= n) break;
  }
  return Buffer.concat(chunks).subarray(0, n);
}

test('an entry above 8 GiB gets a base-256 size that GNU tar and Python tarfile (r|gz) read', async (t) => {
  const dir = await tempDir(t);
  const size = 8 * GiB + 3 * MiB + 512;
  const file = path.join(dir, 'big.tgz');
  const { stream, result } = tarGz('0.vhd', zeros(size), size, { level: 6 });
  await saveStream(stream, file);
  const r = await result;
  assert.equal(r.md5, (await run('md5sum', [file])).split(' ')[0]);

  // The raw tar header: size field (offset 124) in GNU base-256 (first byte 0x80, big-endian value).
  const head = await firstInflatedBytes(file, 512);
  assert.equal(head[124], 0x80, 'base-256 marker');
  assert.equal(head.subarray(125, 136).readBigUInt64BE(3), BigInt(size));

  // Both readers inflate all 8 GiB (≈35 s of CPU each, run side by side); the single-member check is left to
  // pack.test.ts, where it is cheap.
  const [gnu, py] = await Promise.all([gnuTarList(file), pythonTarCheck(file, false)]);
  assert.deepEqual(gnu, [{ type: '-', size, name: '0.vhd' }]);
  assert.deepEqual(py.entries, [{ name: '0.vhd', size, read: size, type: '0' }]);
});
