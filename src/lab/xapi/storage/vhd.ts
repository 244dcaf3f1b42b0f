// The dynamic-VHD structures XAPI's export and import handlers speak (Microsoft VHD spec v1.0; XAPI's vhd-tool
// writes creator "caml" 0x00000001, host OS 0): big-endian footer and dynamic header with one's-complement
// checksums, a BAT of sector offsets, 2 MiB blocks each preceded by a 512-byte sector bitmap.
import { randomUUID } from 'node:crypto';
import { BLOCK_SIZE } from './allocation.js';
// The spec's arithmetic and constants are the engine's (src/disk); the layout below is vhd-tool's own.
import {
  BLOCK_BITMAP_SIZE as BITMAP_SIZE,
  DISK_TYPE,
  FOOTER_SIZE,
  HEADER_SIZE,
  VHD_EPOCH_OFFSET,
  vhdChecksum as checksum,
  vhdChs,
} from '../../../disk/vhdFormat.js';
import { SECTOR_SIZE as SECTOR } from '../../../disk/geometry.js';

export { BITMAP_SIZE, DISK_TYPE, FOOTER_SIZE, HEADER_SIZE, SECTOR };
const ALL_ONES = 0xffffffffffffffffn;

export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}

export function buildFooter(size: number, now = new Date()): Buffer {
  const b = Buffer.alloc(FOOTER_SIZE);
  b.write('conectix', 0, 'latin1');
  b.writeUInt32BE(2, 8); // features: reserved bit set
  b.writeUInt32BE(0x00010000, 12);
  b.writeBigUInt64BE(BigInt(FOOTER_SIZE), 16); // dynamic header right after the footer copy
  b.writeUInt32BE(Math.max(0, Math.floor(now.getTime() / 1000) - VHD_EPOCH_OFFSET), 24);
  b.write('caml', 28, 'latin1');
  b.writeUInt32BE(0x00000001, 32);
  b.writeUInt32BE(0, 36);
  b.writeBigUInt64BE(BigInt(size), 40);
  b.writeBigUInt64BE(BigInt(size), 48);
  const g = vhdChs(size);
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
