// Every supported source, made by the real qemu tools at test time, converted by our reader + tap writer:
// qemu-img compare says identical, vhdiinfo reads the right size, and the bytes follow docs/reference/disks.md §3.
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { openDisk } from '../../src/disk/openDisk.js';
import { writeTapVhdFile } from '../../src/disk/tapVhdFile.js';
import { createTapVhdStream } from '../../src/disk/tapVhdWriter.js';
import { newTapIdentity } from '../../src/disk/vhdFormat.js';
import { tempDir } from '../helpers/tmp.js';
import { GiB, MiB, assertTapVhd, qemuCompare, qemuIo, run, seededBytes, vhdiinfoSize, writeTapVhd } from './support.js';

/** A raw disk with data in a few places: 5 MiB at 10 MiB, 12 KiB inside a block, the last sector. */
async function makeRaw(file: string, size = 100 * MiB): Promise<void> {
  // A sparse file made here (qemu-img create would allocate the first 4 KiB).
  const fh = await open(file, 'w');
  try {
    await fh.truncate(size);
    await fh.write(seededBytes(5 * MiB, 'raw-5m'), 0, 5 * MiB, 10 * MiB);
    await fh.write(seededBytes(12 * 1024, 'raw-12k'), 0, 12 * 1024, 47 * MiB + 4096);
    await fh.write(Buffer.alloc(512, 0x5a), 0, 512, size - 512);
  } finally {
    await fh.close();
  }
}

async function checkConversion(
  dir: string,
  source: string,
  sourceFormat: string,
  expect: { format: string; allocated?: number },
) {
  const out = path.join(dir, `${path.basename(source)}.tap.vhd`);
  const written = await writeTapVhd({ path: source }, out);
  assert.equal(written.format, expect.format);
  assert.equal((await stat(out)).size, written.size, 'announced size = bytes written');
  if (expect.allocated !== undefined)
    assert.equal(written.allocated, expect.allocated, 'allocated blocks from metadata');
  const compare = await qemuCompare(source, out, sourceFormat);
  assert.match(compare, /Images are identical/);
  const facts = await assertTapVhd(out, written.virtualSize);
  assert.equal(await vhdiinfoSize(out), facts.currentSize, 'vhdiinfo reads the current size');
  return { out, facts, written };
}

test('raw, qcow2 v3/v2, zlib and zstd compression, extended L2 convert identically', async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'disk.raw');
  await makeRaw(raw);
  // Blocks with data: 10–15 MiB → 5, 6, 7; 47 MiB + 4 KiB → 23; the last sector → 49.
  const expected = [5, 6, 7, 23, 49];
  const variants: Array<[string, string[]]> = [
    ['v3.qcow2', ['-O', 'qcow2']],
    ['v2.qcow2', ['-O', 'qcow2', '-o', 'compat=0.10']],
    ['zlib.qcow2', ['-c', '-O', 'qcow2']],
    ['zstd.qcow2', ['-c', '-O', 'qcow2', '-o', 'compression_type=zstd']],
    ['ext.qcow2', ['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k']],
    ['big-cluster.qcow2', ['-O', 'qcow2', '-o', 'cluster_size=2M']],
    ['small-cluster.qcow2', ['-O', 'qcow2', '-o', 'cluster_size=512']],
  ];
  const { facts } = await checkConversion(dir, raw, 'raw', { format: 'raw', allocated: expected.length });
  assert.deepEqual(facts.allocated, expected);
  for (const [name, args] of variants) {
    const file = path.join(dir, name);
    await run('qemu-img', ['convert', ...args, raw, file]);
    const r = await checkConversion(dir, file, 'qcow2', { format: 'qcow2', allocated: expected.length });
    assert.deepEqual(r.facts.allocated, expected, name);
  }
});

test('zero clusters and subclusters are not data; a zero-flagged cluster over old data reads as zeros', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'zero.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', file, '64M']);
  await qemuIo(file, [
    'write -P 0x11 0 4M',
    'write -z 0 2M',
    'write -z 10M 20M',
    'write -P 0x22 40M 64k',
    'write -z 40M 64k',
  ]);
  const { facts } = await checkConversion(dir, file, 'qcow2', { format: 'qcow2' });
  assert.deepEqual(facts.allocated, [1], 'only the block still holding 0x11 data');

  const ext = path.join(dir, 'zero-ext.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', '-o', 'extended_l2=on', ext, '64M']);
  await qemuIo(ext, ['write -P 0x33 0 128k', 'write -z 4k 8k', 'write -P 0x44 6M 4k', 'write -z 20M 4M']);
  const r = await checkConversion(dir, ext, 'qcow2', { format: 'qcow2' });
  assert.deepEqual(r.facts.allocated, [0, 3]);
});

test('a size that is not a multiple of 2 MiB rounds up, with zeros past the end', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'odd.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', file, '100000256']);
  await qemuIo(file, ['write -P 0x77 99000000 1000000', 'write -P 0x78 0 512']);
  const { facts, written } = await checkConversion(dir, file, 'qcow2', { format: 'qcow2', allocated: 2 });
  assert.equal(written.virtualSize, 100000256);
  assert.equal(facts.currentSize, 48 * 2 * MiB);
});

test('a 9 GiB sparse qcow2 makes a small VHD with only its allocated blocks', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'sparse.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', file, '9G']);
  await qemuIo(file, ['write -P 0x5a 1M 3M', 'write -P 1 8G 64k', 'write -P 2 9215M 1M']);
  const { facts } = await checkConversion(dir, file, 'qcow2', { format: 'qcow2', allocated: 4 });
  assert.equal(facts.currentSize, 9 * GiB);
  assert.deepEqual(facts.allocated, [0, 1, 4096, 4607]);
  assert.ok(facts.fileSize < 10 * MiB);
});

test('VHDs from qemu (dynamic, fixed) and from our own writer read back identically', async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'disk.raw');
  await makeRaw(raw, 64 * MiB);
  const dyn = path.join(dir, 'qemu-dynamic.vhd');
  const fixed = path.join(dir, 'qemu-fixed.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, dyn]);
  await run('qemu-img', ['convert', '-O', 'vpc', '-o', 'subformat=fixed', raw, fixed]);
  // qemu rounds the size up to its CHS: 64 MiB → 67,125,248 bytes; the extra sectors are zeros.
  const d = await checkConversion(dir, dyn, 'vpc', { format: 'vhd' });
  const f = await checkConversion(dir, fixed, 'vpc', { format: 'vhd' });
  assert.equal(d.written.virtualSize, f.written.virtualSize);
  // qemu-img allocates the first 4 KiB of the files it creates, so block 0 may count as data in the fixed file.
  assert.deepEqual(
    f.facts.allocated.filter((b) => b !== 0),
    [5, 6, 7, 23, 31],
    'the holes of the fixed VHD (qemu-img map) are skipped',
  );
  assert.deepEqual(d.facts.allocated, [5, 6, 7, 23, 31]);
  // Our output as input: a tap VHD converts to itself.
  const again = await checkConversion(dir, d.out, 'vpc', { format: 'vhd' });
  assert.deepEqual(again.facts.allocated, d.facts.allocated);
  assert.match(await qemuCompare(raw, again.out, 'raw'), /identical/);
});

test('a VHD with partial sector bitmaps reads clear sectors as zeros', async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'full.raw');
  await run('qemu-img', ['create', '-f', 'raw', raw, '4M']);
  const fh = await open(raw, 'r+');
  await fh.write(Buffer.alloc(4 * MiB, 0xab), 0, 4 * MiB, 0);
  await fh.close();
  const vhd = path.join(dir, 'partial.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, vhd]);
  // Clear the bitmap bits of sectors 8..15 of block 0 (byte 1) and every sector of block 1's second half.
  const buf = await readFile(vhd);
  const batSector = buf.readUInt32BE(1536);
  const bat1 = buf.readUInt32BE(1540);
  buf[batSector * 512 + 1] = 0x00;
  buf.fill(0, bat1 * 512 + 256, bat1 * 512 + 512);
  await writeFile(vhd, buf);
  const expectedRaw = path.join(dir, 'expected.raw');
  const ex = Buffer.alloc(4 * MiB, 0xab);
  ex.fill(0, 8 * 512, 16 * 512);
  ex.fill(0, 2 * MiB + 1 * MiB, 4 * MiB);
  await writeFile(expectedRaw, ex);
  const out = path.join(dir, 'out.vhd');
  await writeTapVhd({ path: vhd }, out);
  // (qemu's vpc driver ignores sector bitmaps, so it is no oracle here: compare with the expected bytes.)
  assert.match(await qemuCompare(expectedRaw, out, 'raw'), /identical/);
});

test('the pooled file writer writes the same bytes as the stream for every reader', async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'disk.raw');
  await makeRaw(raw, 40 * MiB + 4096);
  const sources: Array<[string, string[]]> = [
    ['q.qcow2', ['-O', 'qcow2', '-o', 'extended_l2=on']],
    ['z.qcow2', ['-c', '-O', 'qcow2', '-o', 'compression_type=zstd']],
    ['d.vhd', ['-O', 'vpc']],
    ['f.vhd', ['-O', 'vpc', '-o', 'subformat=fixed']],
  ];
  const files = [raw];
  for (const [name, args] of sources) {
    await run('qemu-img', ['convert', ...args, raw, path.join(dir, name)]);
    files.push(path.join(dir, name));
  }
  const identity = newTapIdentity();
  for (const file of files) {
    const disk = await openDisk({ path: file });
    try {
      const viaStream = path.join(dir, `${path.basename(file)}.stream.vhd`);
      const viaFile = path.join(dir, `${path.basename(file)}.file.vhd`);
      await pipeline(createTapVhdStream(disk.reader, { identity }).stream, createWriteStream(viaStream));
      const written = await writeTapVhdFile(disk.reader, viaFile, { identity, buffers: 3 });
      assert.equal((await stat(viaFile)).size, written.size);
      assert.ok((await readFile(viaFile)).equals(await readFile(viaStream)), `${path.basename(file)}: identical bytes`);
      assert.match(await qemuCompare(raw, viaFile, 'raw'), /identical/);
    } finally {
      await disk.close();
    }
  }
});

/** A dynamic VHD with 512 KiB blocks written here byte by byte (qemu only writes 2 MiB blocks). */
function smallBlockVhd(data: Buffer, blockSize: number, order: number[], clearSectors: number[] = []): Buffer {
  const size = data.length;
  const entries = Math.ceil(size / blockSize);
  const bitmapSize = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  const checksum = (b: Buffer, at: number) => {
    let sum = 0;
    for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) sum += b[i]!;
    b.writeUInt32BE(~sum >>> 0, at);
  };
  const footer = Buffer.alloc(512);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(2, 8);
  footer.writeUInt32BE(0x00010000, 12);
  footer.writeBigUInt64BE(512n, 16);
  footer.write('vbox', 28, 'latin1');
  footer.writeUInt32BE(0x00010000, 32);
  footer.writeBigUInt64BE(BigInt(size), 40);
  footer.writeBigUInt64BE(BigInt(size), 48);
  footer.writeUInt32BE(3, 60);
  footer.fill(7, 68, 84);
  checksum(footer, 64);
  const header = Buffer.alloc(1024);
  header.write('cxsparse', 0, 'latin1');
  header.writeBigUInt64BE(0xffffffffffffffffn, 8);
  header.writeBigUInt64BE(1536n, 16);
  header.writeUInt32BE(0x00010000, 24);
  header.writeUInt32BE(entries, 28);
  header.writeUInt32BE(blockSize, 32);
  checksum(header, 36);
  const bat = Buffer.alloc(Math.ceil((entries * 4) / 512) * 512, 0xff);
  const blocks: Buffer[] = [];
  let sector = (1536 + bat.length) / 512;
  for (const j of order) {
    bat.writeUInt32BE(sector, j * 4);
    const bitmap = Buffer.alloc(bitmapSize, 0xff);
    for (const s of clearSectors) {
      if (Math.floor((s * 512) / blockSize) !== j) continue;
      const bit = ((s * 512) % blockSize) / 512;
      bitmap[bit >> 3] = bitmap[bit >> 3]! & ~(0x80 >> (bit & 7));
    }
    blocks.push(bitmap, data.subarray(j * blockSize, (j + 1) * blockSize));
    sector += (bitmapSize + blockSize) / 512;
  }
  return Buffer.concat([footer, header, bat, ...blocks, footer]);
}

test('a VHD with 512 KiB blocks (another creator) maps onto 2 MiB blocks, bitmaps honoured', async (t) => {
  const dir = await tempDir(t);
  const size = 6 * MiB + 512 * 1024;
  const data = Buffer.alloc(size);
  for (const [at, len] of [
    [0, 4096],
    [700 * 1024, 100 * 1024],
    [3 * MiB + 5, 1000],
    [size - 512, 512],
  ] as const)
    seededBytes(len, `small-blocks-${at}`).copy(data, at);
  // Blocks 0, 1, 6, 12 hold data; 9 is allocated but all zero; stored out of order; sector 3 of block 0 cleared.
  const vhd = path.join(dir, 'small-blocks.vhd');
  await writeFile(vhd, smallBlockVhd(data, 512 * 1024, [12, 1, 0, 9, 6], [3]));
  const expected = Buffer.from(data);
  expected.fill(0, 3 * 512, 4 * 512);
  const expectedRaw = path.join(dir, 'expected.raw');
  await writeFile(expectedRaw, expected);
  const out = path.join(dir, 'out.vhd');
  const written = await writeTapVhd({ path: vhd }, out);
  assert.equal(written.virtualSize, size);
  const facts = await assertTapVhd(out, size);
  assert.deepEqual(facts.allocated, [0, 1, 2, 3], '512 KiB blocks 0,1 → 0; 6 → 1; 9 → 2; 12 → 3');
  assert.match(await qemuCompare(expectedRaw, out, 'raw'), /identical/);
});

test('the file writer gives the same bytes whatever its buffer count, many blocks per writev or one', async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'many.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(64 * MiB);
  // 20 blocks of data, some adjacent (batched writes), some apart, one partial block.
  for (let i = 0; i < 20; i++) await fh.write(seededBytes(MiB, `many-${i}`), 0, MiB, (i < 12 ? i : i * 1.5) * 2 * MiB);
  await fh.close();
  const disk = await openDisk({ path: raw });
  t.after(() => disk.close());
  const identity = newTapIdentity();
  const outputs: Buffer[] = [];
  for (const buffers of [2, 3, 16]) {
    const file = path.join(dir, `b${buffers}.vhd`);
    await writeTapVhdFile(disk.reader, file, { identity, buffers, sync: false });
    outputs.push(await readFile(file));
    assert.match(await qemuCompare(raw, file, 'raw'), /identical/, `${buffers} buffers`);
  }
  assert.ok(outputs[1]!.equals(outputs[0]!) && outputs[2]!.equals(outputs[0]!), 'byte-identical outputs');
});

test('a read failing mid-conversion fails the file writer only after every read in flight has settled', async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'disk.raw');
  await makeRaw(raw);
  const disk = await openDisk({ path: raw });
  t.after(() => disk.close());
  const real = disk.reader;
  let inFlight = 0;
  let calls = 0;
  const failing = {
    format: real.format,
    virtualSize: real.virtualSize,
    allocatedBlocks: real.allocatedBlocks,
    close: () => real.close(),
    async readBlock(index: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
      inFlight++;
      try {
        if (++calls === 3) throw new Error('the disk went away');
        return await real.readBlock(index, signal, into);
      } finally {
        inFlight--;
      }
    },
  };
  const out = path.join(dir, 'out.vhd');
  await assert.rejects(writeTapVhdFile(failing, out, { buffers: 3, sync: false }), /the disk went away/);
  assert.equal(inFlight, 0, 'no read is still writing into a buffer');
});
