// Hostile and broken images, crafted from real qemu-img output: each is refused with a typed, non-retryable,
// readable error, quickly (the per-test timeout turns a hang into a failure) and without allocating by the
// sizes the file claims.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { openDisk } from '../../src/disk/openDisk.js';
import { tempDir } from '../helpers/tmp.js';
import { MiB, encryptedQcow2, qemuIo, run } from './support.js';

const T = { timeout: 30_000 };

async function refused(file: string, type: string, message?: RegExp): Promise<void> {
  await assert.rejects(
    async () => {
      const disk = await openDisk({ path: file });
      try {
        for (const b of disk.reader.allocatedBlocks) await disk.reader.readBlock(b);
      } finally {
        await disk.close();
      }
    },
    (err: Error & { type?: string; retryable?: boolean }) => {
      assert.equal(err.type, type, `${err.type}: ${err.message}`);
      assert.equal(err.retryable, false);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

async function patch(file: string, edit: (buf: Buffer) => void): Promise<void> {
  const buf = await readFile(file);
  edit(buf);
  await writeFile(file, buf);
}

async function qcow2With(dir: string, name: string, extra: string[] = []): Promise<string> {
  const file = path.join(dir, name);
  await run('qemu-img', ['create', '-f', 'qcow2', ...extra, file, '64M']);
  await qemuIo(file, ['write -P 0x61 0 1M', 'write -P 0x62 40M 2M']);
  return file;
}

function vhdChecksum(buf: Buffer, at: number, length: number): void {
  let sum = 0;
  for (let i = 0; i < length; i++) if (i < at || i >= at + 4) sum += buf[i]!;
  buf.writeUInt32BE(~sum >>> 0, at);
}

test('qcow2: truncated file, short header, L1 and L2 tables outside the file', T, async (t) => {
  const dir = await tempDir(t);
  const cut = await qcow2With(dir, 'cut.qcow2');
  await truncate(cut, 1 * MiB);
  await refused(cut, 'DiskCorrupt', /beyond the end of the file/);

  const short = path.join(dir, 'short.qcow2');
  await writeFile(short, (await readFile(cut)).subarray(0, 48));
  await refused(short, 'DiskCorrupt', /truncated/);

  const l1 = await qcow2With(dir, 'l1.qcow2');
  await patch(l1, (b) => b.writeBigUInt64BE(1n << 40n, 40));
  await refused(l1, 'DiskCorrupt', /L1 table lies beyond/);

  const l2 = await qcow2With(dir, 'l2.qcow2');
  await patch(l2, (b) => {
    const l1Offset = Number(b.readBigUInt64BE(40));
    b.writeBigUInt64BE((1n << 63n) | (1n << 36n), l1Offset);
  });
  await refused(l2, 'DiskCorrupt', /L2 table beyond the end/);
});

test('qcow2: L1 entries sharing an L2 table, an L2 table over the L1 table', T, async (t) => {
  const dir = await tempDir(t);
  const loop = path.join(dir, 'loop.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', '-o', 'cluster_size=4k', loop, '64M']); // 2 MiB per L2 table
  await qemuIo(loop, ['write -P 1 0 4k', 'write -P 2 8M 4k']);
  await patch(loop, (b) => {
    const l1Offset = Number(b.readBigUInt64BE(40));
    b.writeBigUInt64BE(b.readBigUInt64BE(l1Offset), l1Offset + 8 * 4); // entry 4 (8 MiB) → entry 0's table
  });
  await refused(loop, 'DiskCorrupt', /overlap/);

  const over = await qcow2With(dir, 'over.qcow2');
  await patch(over, (b) => {
    const l1Offset = b.readBigUInt64BE(40);
    b.writeBigUInt64BE((1n << 63n) | l1Offset, Number(l1Offset));
  });
  await refused(over, 'DiskCorrupt', /overlaps the L1 table/);
});

test('qcow2: absurd and inconsistent sizes are refused without allocating', T, async (t) => {
  const dir = await tempDir(t);
  const huge = await qcow2With(dir, 'huge.qcow2');
  await patch(huge, (b) => b.writeBigUInt64BE(1n << 62n, 24));
  await refused(huge, 'DiskFormatUnsupported', /exceeds the VHD maximum/);

  const tooBig = await qcow2With(dir, 'toobig.qcow2');
  await patch(tooBig, (b) => b.writeBigUInt64BE(3n << 40n, 24)); // 3 TiB: beyond 2040 GiB
  await refused(tooBig, 'DiskFormatUnsupported', /2040/);

  const l1small = await qcow2With(dir, 'l1small.qcow2');
  await patch(l1small, (b) => b.writeBigUInt64BE(1n << 40n, 24)); // 1 TiB but the L1 covers 512 MiB
  await refused(l1small, 'DiskCorrupt', /L1 table has/);

  const clusterBits = await qcow2With(dir, 'bits.qcow2');
  await patch(clusterBits, (b) => b.writeUInt32BE(40, 20));
  await refused(clusterBits, 'DiskCorrupt', /cluster_bits/);
});

test(
  'qcow2: features we must not ignore (corrupt bit, unknown bits, external data, encryption, backing file, version)',
  T,
  async (t) => {
    const dir = await tempDir(t);
    const corrupt = await qcow2With(dir, 'corrupt.qcow2');
    await patch(corrupt, (b) => b.writeBigUInt64BE(b.readBigUInt64BE(72) | 2n, 72));
    await refused(corrupt, 'DiskFormatUnsupported', /marked corrupt/);

    const unknown = await qcow2With(dir, 'unknown.qcow2');
    await patch(unknown, (b) => b.writeBigUInt64BE(b.readBigUInt64BE(72) | (1n << 40n), 72));
    await refused(unknown, 'DiskFormatUnsupported', /unknown incompatible features/);

    const dirty = await qcow2With(dir, 'dirty.qcow2');
    await patch(dirty, (b) => b.writeBigUInt64BE(b.readBigUInt64BE(72) | 1n, 72));
    const d = await openDisk({ path: dirty }); // dirty only means stale refcounts: readable
    await d.close();

    const external = path.join(dir, 'external.qcow2');
    await run('qemu-img', ['create', '-f', 'qcow2', '-o', `data_file=${path.join(dir, 'data.raw')}`, external, '64M']);
    await refused(external, 'DiskFormatUnsupported', /external data file/);

    const luks = path.join(dir, 'luks.qcow2');
    await encryptedQcow2(luks); // written as qemu-img lays it out: qemu-img's own LUKS setup fails now and then
    await refused(luks, 'DiskFormatUnsupported', /encrypted/);

    const base = await qcow2With(dir, 'base-image.qcow2');
    const child = path.join(dir, 'child.qcow2');
    await run('qemu-img', ['create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', child]);
    await refused(child, 'DiskFormatUnsupported', /backing file '.*base-image\.qcow2'/);

    const v4 = await qcow2With(dir, 'v4.qcow2');
    await patch(v4, (b) => b.writeUInt32BE(4, 4));
    await refused(v4, 'DiskFormatUnsupported', /version 4/);
  },
);

test('qcow2: a compressed cluster that inflates past its size, or does not inflate', T, async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'text.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(4 * MiB);
  await fh.write(Buffer.from('compressible text, '.repeat(4000)), 0, 64 * 1024, 0);
  await fh.close();
  for (const type of ['zlib', 'zstd'] as const) {
    const file = path.join(dir, `${type}.qcow2`);
    await run('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', `compression_type=${type}`, raw, file]);
    let bombed = Buffer.alloc(0);
    if (type === 'zlib') bombed = deflateRawSync(Buffer.alloc(4 * 64 * 1024));
    else
      bombed = (await promisify(execFile)('sh', ['-c', 'head -c 262144 /dev/zero | zstd -c'], { encoding: 'buffer' }))
        .stdout;
    const locate = (b: Buffer) => {
      const l1Offset = Number(b.readBigUInt64BE(40));
      const l2Offset = Number(b.readBigUInt64BE(l1Offset) & 0x00fffffffffffe00n);
      const entry = b.readBigUInt64BE(l2Offset);
      assert.ok(entry & (1n << 62n), 'first cluster is compressed');
      return Number(entry & ((1n << 54n) - 1n));
    };
    const bomb = path.join(dir, `${type}-bomb.qcow2`);
    await writeFile(bomb, await readFile(file));
    await patch(bomb, (b) => bombed.copy(b, locate(b)));
    await refused(bomb, 'DiskCorrupt', /inflates past the cluster size/);

    const garbage = path.join(dir, `${type}-garbage.qcow2`);
    await writeFile(garbage, await readFile(file));
    await patch(garbage, (b) => b.fill(0xee, locate(b), locate(b) + 64));
    await refused(garbage, 'DiskCorrupt', /compressed cluster/);
  }
});

test('VHD: BAT beyond EOF, overlapping blocks, differencing, truncated fixed, bad checksums', T, async (t) => {
  const dir = await tempDir(t);
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(16 * MiB);
  await fh.write(Buffer.alloc(MiB, 0x41), 0, MiB, 0);
  await fh.write(Buffer.alloc(MiB, 0x42), 0, MiB, 6 * MiB);
  await fh.close();
  const good = path.join(dir, 'good.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', raw, good]);
  const copy = async (name: string) => {
    const f = path.join(dir, name);
    await writeFile(f, await readFile(good));
    return f;
  };

  const beyond = await copy('beyond.vhd');
  await patch(beyond, (b) => b.writeUInt32BE(0x00ffffff, 1536));
  await refused(beyond, 'DiskCorrupt', /beyond the end of the file/);

  const overlap = await copy('overlap.vhd');
  await patch(overlap, (b) => b.writeUInt32BE(b.readUInt32BE(1536) + 8, 1536 + 12)); // block 3 inside block 0
  await refused(overlap, 'DiskCorrupt', /overlap/);

  const intoHeader = await copy('into-header.vhd');
  await patch(intoHeader, (b) => b.writeUInt32BE(1, 1536));
  await refused(intoHeader, 'DiskCorrupt', /overlaps/);

  const diff = await copy('diff.vhd');
  await patch(diff, (b) => {
    const name = Buffer.from('parent-disk.vhd', 'utf16le').swap16();
    name.copy(b, 512 + 64);
    vhdChecksum(b.subarray(512, 1536), 36, 1024);
    for (const at of [0, b.length - 512]) {
      b.writeUInt32BE(4, at + 60);
      vhdChecksum(b.subarray(at, at + 512), 64, 512);
    }
  });
  await refused(diff, 'DiskFormatUnsupported', /differencing VHD \(parent 'parent-disk\.vhd'\)/);

  const badSums = await copy('badsums.vhd');
  await patch(badSums, (b) => {
    b[40] = (b[40]! + 1) & 0xff;
    b[b.length - 512 + 40] = (b[b.length - 512 + 40]! + 1) & 0xff;
  });
  await refused(badSums, 'DiskCorrupt', /checksum/);

  const badHeader = await copy('badheader.vhd');
  await patch(badHeader, (b) => (b[512 + 20] = 0x99));
  await refused(badHeader, 'DiskCorrupt', /header checksum/);

  const fixed = path.join(dir, 'fixed.vhd');
  await run('qemu-img', ['convert', '-O', 'vpc', '-o', 'subformat=fixed', raw, fixed]);
  const data = await readFile(fixed);
  await writeFile(fixed, Buffer.concat([data.subarray(0, 4 * MiB), data.subarray(data.length - 512)])); // data cut, footer kept
  await refused(fixed, 'DiskCorrupt', /truncated/);
});
