// Shared by the data-path tests: running the real tools, writing our VHD to a file, and an independent
// byte-level check of a tap VHD written straight from docs/reference/disks.md §1–§3 (not from src/disk).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { openDisk, type ImageSourceSpec } from '../../src/disk/openDisk.js';
import { createTapVhdStream } from '../../src/disk/tapVhdWriter.js';

const execFileAsync = promisify(execFile);

export async function run(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/**
 * Incompressible bytes that are the same on every run: the AES-128-CTR keystream of a key derived from `seed`.
 * Fixtures made from it do not depend on luck, and a failure reproduces with the same bytes.
 */
export function seededBytes(length: number, seed: string | number): Buffer {
  const key = createHash('sha256').update(`xenimage-fixture:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/**
 * A LUKS-encrypted qcow2 as qemu-img lays it out (checked against one it made): crypt_method 2 in the header, a
 * full-disk-encryption header extension (0x0537be77: offset and length of the LUKS header) first among the
 * extensions, and the LUKS header (magic "LUKS\xba\xbe", version 1) at that offset. Written here instead of by
 * `qemu-img create -o encrypt.format=luks`, whose key-slot timing fails now and then on virtual machines
 * ("Unable to get accurate CPU usage"): readers only need to see the image is encrypted, never to decrypt it.
 */
export async function encryptedQcow2(file: string, size = '16M'): Promise<void> {
  await run('qemu-img', ['create', '-f', 'qcow2', file, size]);
  const plain = await readFile(file);
  assert.equal(plain.readUInt32BE(4), 3, 'qemu-img creates qcow2 v3');
  const clusterSize = 2 ** plain.readUInt32BE(20);
  const headerLength = plain.readUInt32BE(100);
  let end = headerLength; // the existing extensions run up to their end marker (type 0)
  while (plain.readUInt32BE(end) !== 0) end += 8 + Math.ceil(plain.readUInt32BE(end + 4) / 8) * 8;
  const luksOffset = Math.ceil(plain.length / clusterSize) * clusterSize;
  const fde = Buffer.alloc(24);
  fde.writeUInt32BE(0x0537be77, 0);
  fde.writeUInt32BE(16, 4);
  fde.writeBigUInt64BE(BigInt(luksOffset), 8);
  fde.writeBigUInt64BE(BigInt(clusterSize), 16);
  const out = Buffer.alloc(luksOffset + clusterSize);
  plain.copy(out);
  out.writeUInt32BE(2, 32); // crypt_method: LUKS
  Buffer.concat([fde, plain.subarray(headerLength, end), Buffer.alloc(8)]).copy(out, headerLength);
  assert.ok(headerLength + fde.length + (end - headerLength) + 8 <= clusterSize, 'extensions fit the header cluster');
  Buffer.from('LUKS\xba\xbe\x00\x01', 'latin1').copy(out, luksOffset);
  await writeFile(file, out);
}

/** qemu-io commands applied to a new image. */
export async function qemuIo(file: string, commands: string[], format = 'qcow2'): Promise<void> {
  await run('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), file]);
}

/** Converts `src` with our reader + tap writer into `dst`; returns the announced size and the reader facts. */
export async function writeTapVhd(
  src: ImageSourceSpec,
  dst: string,
): Promise<{ size: number; virtualSize: number; allocated: number; format: string }> {
  const disk = await openDisk(src);
  try {
    const vhd = createTapVhdStream(disk.reader);
    await pipeline(vhd.stream, createWriteStream(dst));
    return {
      size: vhd.size,
      virtualSize: disk.reader.virtualSize,
      allocated: disk.reader.allocatedBlocks.length,
      format: disk.sourceFormat,
    };
  } finally {
    await disk.close();
  }
}

export async function qemuCompare(a: string, b: string, formatA?: string, formatB = 'vpc'): Promise<string> {
  return run('qemu-img', ['compare', ...(formatA ? ['-f', formatA] : []), '-F', formatB, a, b]);
}

export async function vhdiinfoSize(file: string): Promise<number> {
  const out = await run('vhdiinfo', [file]);
  const m = /Media size\s*:.*\((\d+) bytes\)/.exec(out);
  assert.ok(m, `vhdiinfo output without media size:\n${out}`);
  return Number(m[1]);
}

function checksum(buf: Buffer, at: number): number {
  let sum = 0;
  buf.forEach((b, i) => {
    if (i < at || i >= at + 4) sum += b;
  });
  return ~sum >>> 0;
}

/** The spec's CHS algorithm, written here independently of src/. */
export function specChs(size: number): [number, number, number] {
  const t = Math.min(Math.floor(size / 512), 65535 * 16 * 255);
  let s: number, h: number, ch: number;
  if (t >= 65535 * 16 * 63) {
    [s, h, ch] = [255, 16, Math.floor(t / 255)];
  } else {
    s = 17;
    ch = Math.floor(t / 17);
    h = Math.max(4, Math.floor((ch + 1023) / 1024));
    if (ch >= h * 1024 || h > 16) [s, h, ch] = [31, 16, Math.floor(t / 31)];
    if (ch >= h * 1024) [s, h, ch] = [63, 16, Math.floor(t / 63)];
  }
  return [Math.floor(ch / h), h, s];
}

export interface TapFacts {
  currentSize: number;
  allocated: number[];
  fileSize: number;
  uuid: string;
}

/** Asserts every rule of docs/reference/disks.md §3 on a tap VHD file, byte by byte. */
export async function assertTapVhd(file: string, sourceVirtualSize: number): Promise<TapFacts> {
  const buf = await readFile(file);
  const n = buf.length;
  const footer = buf.subarray(0, 512);
  assert.deepEqual(buf.subarray(n - 512), footer, 'footer copy at 0 and final footer are byte-identical');
  assert.equal(footer.toString('latin1', 0, 8), 'conectix');
  assert.equal(footer.readUInt32BE(8), 2, 'features');
  assert.equal(footer.readUInt32BE(12), 0x00010000, 'format version');
  assert.equal(footer.readBigUInt64BE(16), 512n, 'data offset');
  const nowVhd = Math.floor(Date.now() / 1000) - 946684800;
  const ts = footer.readUInt32BE(24);
  assert.ok(ts <= nowVhd + 5 && ts > nowVhd - 3600, `timestamp ${ts} is now in the 2000 epoch (${nowVhd})`);
  assert.equal(footer.toString('latin1', 28, 32), 'tap\0', 'creator');
  assert.equal(footer.readUInt32BE(32), 0x00010003, 'creator version 1.3');
  assert.equal(footer.readUInt32BE(36), 0, 'host OS');
  const current = Number(footer.readBigUInt64BE(48));
  assert.equal(
    current,
    Math.ceil(sourceVirtualSize / (2 * MiB)) * 2 * MiB,
    'current size = virtual size rounded up to 2 MiB',
  );
  assert.equal(Number(footer.readBigUInt64BE(40)), current, 'original size = current size');
  const chs: [number, number, number] = [footer.readUInt16BE(56), footer.readUInt8(58), footer.readUInt8(59)];
  assert.deepEqual(chs, specChs(current), 'floor CHS of the current size');
  assert.ok(chs[0] * chs[1] * chs[2] * 512 <= current, 'CHS rounds down');
  assert.equal(footer.readUInt32BE(60), 3, 'dynamic');
  assert.equal(footer.readUInt32BE(64), checksum(footer, 64), 'footer checksum');
  assert.ok(!footer.subarray(68, 84).every((b) => b === 0), 'non-null UUID');
  assert.ok(
    footer.subarray(84, 512).every((b) => b === 0),
    'saved state, hidden and reserved bytes are zero',
  );

  const header = buf.subarray(512, 1536);
  assert.equal(header.toString('latin1', 0, 8), 'cxsparse');
  assert.equal(header.readBigUInt64BE(8), 0xffffffffffffffffn, 'header data offset is 64 one-bits');
  assert.equal(header.readBigUInt64BE(16), 1536n, 'table offset');
  assert.equal(header.readUInt32BE(24), 0x00010000);
  const entries = header.readUInt32BE(28);
  assert.equal(entries * 2 * MiB, current, 'entries × 2 MiB = current size');
  assert.equal(header.readUInt32BE(32), 2 * MiB, 'block size');
  assert.equal(header.readUInt32BE(36), checksum(header, 36), 'header checksum');
  assert.ok(
    header.subarray(40, 1024).every((b) => b === 0),
    'no parent, reserved zero',
  );

  const batBytes = Math.ceil((entries * 4) / 512) * 512;
  const bat = buf.subarray(1536, 1536 + batBytes);
  assert.ok(
    bat.subarray(entries * 4).every((b) => b === 0xff),
    'BAT padding is 0xFF',
  );
  const bmh = buf.subarray(1536 + batBytes, 1536 + batBytes + 512);
  assert.equal(bmh.toString('latin1', 0, 8), 'tdbatmap');
  const mapOffset = Number(bmh.readBigUInt64BE(8));
  assert.equal(mapOffset, 1536 + batBytes + 512, 'batmap right after its header');
  const mapSectors = bmh.readUInt32BE(16);
  assert.equal(mapSectors, Math.ceil(Math.ceil(entries / 8) / 512));
  assert.equal(bmh.readUInt32BE(20), 0x00010002, 'batmap version 1.2');
  const map = buf.subarray(mapOffset, mapOffset + mapSectors * 512);
  const span = Math.max(1, Math.ceil(Math.floor(current / 2 ** 24) / 512)) * 512;
  let sum = 0;
  for (let i = 0; i < span; i++) sum += map[i]!;
  assert.equal(bmh.readUInt32BE(24), ~sum >>> 0, 'batmap checksum over the span implied by the current size');
  assert.ok(
    bmh.subarray(28).every((b) => b === 0),
    'batmap marker and keyhash are zero',
  );

  const metaEnd = mapOffset + mapSectors * 512;
  const allocated: number[] = [];
  let previous = -1;
  for (let i = 0; i < entries; i++) {
    const sector = bat.readUInt32BE(i * 4);
    const bit = (map[i >> 3]! & (0x80 >> (i & 7))) !== 0;
    if (sector === 0xffffffff) {
      assert.equal(bit, false, `batmap bit of unallocated block ${i} is clear`);
      continue;
    }
    assert.equal(bit, true, `batmap bit of block ${i} is set`);
    assert.ok(sector * 512 >= metaEnd, `block ${i} after the metadata`);
    assert.ok(sector > previous, 'blocks in ascending order');
    assert.ok(sector * 512 + 512 + 2 * MiB <= n - 512, `block ${i} ends before the footer`);
    assert.ok(
      buf.subarray(sector * 512, sector * 512 + 512).every((b) => b === 0xff),
      `block ${i} bitmap all ones`,
    );
    previous = sector;
    allocated.push(i);
  }
  const firstSector = allocated.length ? bat.readUInt32BE(allocated[0]! * 4) : Math.ceil(metaEnd / 512);
  const gapStart = Math.ceil(metaEnd / 512);
  let expectedFirst = gapStart;
  while ((expectedFirst + 1) % 8 !== 0) expectedFirst++;
  if (allocated.length)
    assert.equal(firstSector, expectedFirst, 'first block right after the metadata (plus alignment gap)');
  allocated.forEach((b, k) =>
    assert.equal(bat.readUInt32BE(b * 4), expectedFirst + k * 4097, 'blocks packed contiguously'),
  );
  assert.equal(
    n,
    expectedFirst * 512 + allocated.length * (512 + 2 * MiB) + 512,
    'file size follows from the allocated blocks',
  );
  return { currentSize: current, allocated, fileSize: n, uuid: footer.subarray(68, 84).toString('hex') };
}
