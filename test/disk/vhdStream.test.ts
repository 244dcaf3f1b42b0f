// The one-pass re-writer for XAPI-style VHD export streams: real qemu-img VHDs and crafted ones (partial
// bitmaps, blocks out of index order, truncation) streamed in odd-sized chunks, compared with qemu-img.
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { rewriteVhdStream } from '../../src/disk/vhdStreamRewriter.js';
import { tempDir } from '../helpers/tmp.js';
import { MiB, assertTapVhd, qemuCompare, run } from './support.js';

/** The file as a stream of odd-sized chunks, counting what was pulled. */
function chunked(data: Buffer, size = 77_777): { stream: Readable; pulled: () => number } {
  let pos = 0;
  const stream = new Readable({
    highWaterMark: size,
    read() {
      const end = Math.min(data.length, pos + size);
      this.push(end > pos ? data.subarray(pos, end) : null);
      pos = end;
    },
  });
  return { stream, pulled: () => pos };
}

async function makeRaw(dir: string, size = 40 * MiB): Promise<string> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(size);
  for (const [at, byte] of [
    [0, 0x10],
    [5 * MiB + 4096, 0x20],
    [20 * MiB, 0x30],
    [size - 4096, 0x40],
  ] as const) {
    if (at < size) await fh.write(Buffer.alloc(Math.min(MiB, size - at), byte), 0, Math.min(MiB, size - at), at);
  }
  await fh.close();
  return raw;
}

async function rewrite(input: Buffer, out: string) {
  const src = chunked(input);
  const vhd = await rewriteVhdStream(src.stream);
  const pulledAtHead = src.pulled();
  await pipeline(vhd.stream, createWriteStream(out));
  return { vhd, pulledAtHead };
}

test('a qemu-img dynamic VHD streamed through the re-writer equals the source, only the head read up front', async (t) => {
  const dir = await tempDir(t);
  const raw = await makeRaw(dir);
  const vpc = path.join(dir, 'export.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, vpc]);
  const input = await readFile(vpc);
  const out = path.join(dir, 'tap.vhd');
  const { vhd, pulledAtHead } = await rewrite(input, out);
  assert.ok(pulledAtHead < 4 * 77_777, `only the head was read before the output was consumed (${pulledAtHead} bytes)`);
  assert.ok(input.length > 4 * MiB);
  assert.match(await qemuCompare(raw, out, 'raw'), /identical/);
  const facts = await assertTapVhd(out, vhd.virtualSize);
  assert.equal(facts.fileSize, vhd.size);
});

test('partial bitmaps are honoured and blocks out of index order are handled', async (t) => {
  const dir = await tempDir(t);
  const raw = await makeRaw(dir, 8 * MiB);
  const vpc = path.join(dir, 'export.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, vpc]);
  const buf = await readFile(vpc);
  const expected = await readFile(raw);
  // Swap the file positions of blocks 0 and 3 (the BAT follows), so file order ≠ index order.
  const s0 = buf.readUInt32BE(1536);
  const s3 = buf.readUInt32BE(1536 + 12);
  const span = 512 + 2 * MiB;
  const b0 = Buffer.from(buf.subarray(s0 * 512, s0 * 512 + span));
  buf.copy(buf, s0 * 512, s3 * 512, s3 * 512 + span);
  b0.copy(buf, s3 * 512);
  buf.writeUInt32BE(s3, 1536);
  buf.writeUInt32BE(s0, 1536 + 12);
  // Block 0 (now at s3): clear the bitmap bits of sectors 0..7 → those 4 KiB read as zeros.
  buf[s3 * 512] = 0;
  expected.fill(0, 0, 4096);
  await writeFile(path.join(dir, 'expected.raw'), expected);
  const out = path.join(dir, 'tap.vhd');
  const { vhd } = await rewrite(buf, out);
  assert.match(await qemuCompare(path.join(dir, 'expected.raw'), out, 'raw'), /identical/);
  assert.equal(vhd.size, (await readFile(out)).length);
});

test('truncated, differencing and non-VHD streams are refused with typed errors', async (t) => {
  const dir = await tempDir(t);
  const raw = await makeRaw(dir, 8 * MiB);
  const vpc = path.join(dir, 'export.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, vpc]);
  const buf = await readFile(vpc);

  // An export without Content-Length that ends early is a dropped connection: retryable.
  await assert.rejects(rewrite(buf.subarray(0, 1000), path.join(dir, 'a.vhd')), {
    type: 'DiskSourceUnavailable',
    retryable: true,
    message: /truncated/,
  });
  await assert.rejects(rewrite(buf.subarray(0, buf.length - 3 * MiB), path.join(dir, 'b.vhd')), {
    type: 'DiskSourceUnavailable',
    retryable: true,
  });
  await assert.rejects(rewrite(buf.subarray(0, buf.length - 512), path.join(dir, 'c.vhd')), {
    type: 'DiskSourceUnavailable',
    message: /trailing VHD footer/,
  });
  await assert.rejects(rewrite(Buffer.alloc(4096, 0x33), path.join(dir, 'd.vhd')), {
    type: 'DiskCorrupt',
    message: /footer copy/,
  });
  const diff = Buffer.from(buf);
  diff.writeUInt32BE(4, 60);
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += diff[i]!;
  diff.writeUInt32BE(~sum >>> 0, 64);
  await assert.rejects(rewrite(diff, path.join(dir, 'e.vhd')), {
    type: 'DiskFormatUnsupported',
    message: /differencing/,
  });
});
