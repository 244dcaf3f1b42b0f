// The dynamic-VHD structures XAPI's export and import handlers speak, written here from the Microsoft Virtual Hard
// Disk Image Format Specification v1.0 (footer, dynamic disk header, BAT, sector bitmaps, the checksum and the CHS
// geometry of its appendix) and shared with nothing in the engine, so a wrong constant on either side shows up
// in the tests (checked with libvhdi and qemu-img, test/lab/xapi/vhd.test.ts). XAPI's vhd-tool writes creator
// "caml" 0x00000001, host OS 0 (docs/decisions/xapi-0003).
import { randomUUID } from 'node:crypto';
import { BLOCK_SIZE } from './allocation.js';

/** Bytes per sector: every VHD offset and size is counted in these. */
export const SECTOR = 512;
/** The hard disk footer (spec: "Hard Disk Footer Format"), at the end of every VHD and copied at 0 for dynamic ones. */
export const FOOTER_SIZE = 512;
/** The dynamic disk header (spec: "Dynamic Disk Header Format"). */
export const HEADER_SIZE = 1024;
/** A block's sector bitmap: one bit per sector of the block, padded to a sector (512 bytes for 2 MiB blocks). */
export const BITMAP_SIZE = Math.ceil(BLOCK_SIZE / SECTOR / 8 / SECTOR) * SECTOR;
/** Footer "Disk Type" values. */
export const DISK_TYPE = { fixed: 2, dynamic: 3, differencing: 4 } as const;
/** VHD timestamps count seconds since 2000-01-01T00:00:00Z. */
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);
const ALL_ONES = 0xffffffffffffffffn;

/** The spec's checksum: the one's complement of the sum of every byte, the checksum field counted as zero. */
export function checksum(structure: Buffer, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < structure.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue;
    sum = (sum + structure[i]!) >>> 0;
  }
  return ~sum >>> 0;
}

/** Cylinders, heads, sectors per track for a size (the spec appendix "CHS Calculation"; floors, as blktap does). */
export function chsGeometry(size: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  const totalSectors = Math.min(Math.ceil(size / SECTOR), 65535 * 16 * 255);
  let sectorsPerTrack: number;
  let heads: number;
  let cylinderTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024));
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack };
}

export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}

export function buildFooter(size: number, now = new Date()): Buffer {
  const b = Buffer.alloc(FOOTER_SIZE);
  b.write('conectix', 0, 'latin1');
  b.writeUInt32BE(2, 8); // features: reserved bit set
  b.writeUInt32BE(0x00010000, 12);
  b.writeBigUInt64BE(BigInt(FOOTER_SIZE), 16); // dynamic header right after the footer copy
  b.writeUInt32BE(Math.max(0, Math.floor((now.getTime() - VHD_EPOCH_MS) / 1000)), 24);
  b.write('caml', 28, 'latin1');
  b.writeUInt32BE(0x00000001, 32);
  b.writeUInt32BE(0, 36);
  b.writeBigUInt64BE(BigInt(size), 40);
  b.writeBigUInt64BE(BigInt(size), 48);
  const g = chsGeometry(size);
  b.writeUInt16BE(g.cylinders, 56);
  b.writeUInt8(g.heads, 58);
  b.writeUInt8(g.sectorsPerTrack, 59);
  b.writeUInt32BE(DISK_TYPE.dynamic, 60);
  Buffer.from(randomUUID().replace(/-/g, ''), 'hex').copy(b, 68);
  b.writeUInt32BE(checksum(b, 64), 64);
  return b;
}

export function buildHeader(size: number, tableOffset: number): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write('cxsparse', 0, 'latin1');
  b.writeBigUInt64BE(ALL_ONES, 8);
  b.writeBigUInt64BE(BigInt(tableOffset), 16);
  b.writeUInt32BE(0x00010000, 24);
  b.writeUInt32BE(blockCount(size), 28);
  b.writeUInt32BE(BLOCK_SIZE, 32);
  b.writeUInt32BE(checksum(b, 36), 36);
  return b;
}

export interface VhdFooter {
  diskType: number;
  currentSize: number;
  dataOffset: number;
}

export interface VhdHeader {
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
}

export class VhdFormatError extends Error {}

export function parseFooter(b: Buffer): VhdFooter {
  if (b.length < FOOTER_SIZE || b.toString('latin1', 0, 8) !== 'conectix')
    throw new VhdFormatError('not a VHD (no conectix footer)');
  if (checksum(b.subarray(0, FOOTER_SIZE), 64) !== b.readUInt32BE(64))
    throw new VhdFormatError('VHD footer checksum mismatch');
  return {
    diskType: b.readUInt32BE(60),
    currentSize: Number(b.readBigUInt64BE(48)),
    dataOffset: Number(b.readBigUInt64BE(16)),
  };
}

export function parseHeader(b: Buffer): VhdHeader {
  if (b.length < HEADER_SIZE || b.toString('latin1', 0, 8) !== 'cxsparse')
    throw new VhdFormatError('no cxsparse dynamic header');
  if (checksum(b.subarray(0, HEADER_SIZE), 36) !== b.readUInt32BE(36))
    throw new VhdFormatError('VHD header checksum mismatch');
  return {
    tableOffset: Number(b.readBigUInt64BE(16)),
    maxTableEntries: b.readUInt32BE(28),
    blockSize: b.readUInt32BE(32),
  };
}
