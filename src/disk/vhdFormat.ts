// Byte layouts of the VHD format (Microsoft VHD spec v1.0) and of blktap's batmap extension, shared by the VHD
// reader, the tap writer, the stream re-writer and the verifier. All integers are big-endian.
// Facts: docs/reference/disks.md §1–§3.
import { randomUUID } from 'node:crypto';
import { BLOCK_SIZE, SECTOR_SIZE, pad512 } from './geometry.js';

export const FOOTER_SIZE = 512;
export const HEADER_SIZE = 1024;
export const BATMAP_HEADER_SIZE = 512;
export const FOOTER_COOKIE = 'conectix';
export const HEADER_COOKIE = 'cxsparse';
export const BATMAP_COOKIE = 'tdbatmap';
export const UNALLOCATED = 0xffffffff;

export const DISK_TYPE = { fixed: 2, dynamic: 3, differencing: 4 } as const;
export const TAP_CREATOR = 'tap\0';
export const TAP_CREATOR_VERSION = 0x00010003;
export const BATMAP_VERSION = 0x00010002;
/** Bitmap in front of each 2 MiB block: 4096 sectors → 512 bits… rounded up to one sector. */
export const BLOCK_BITMAP_SIZE = 512;
/** Sectors one allocated 2 MiB block occupies in the file (bitmap + data). */
export const BLOCK_SPAN_SECTORS = (BLOCK_BITMAP_SIZE + BLOCK_SIZE) / SECTOR_SIZE;
/** Seconds between the Unix epoch and the VHD epoch (2000-01-01T00:00:00Z). */
export const VHD_EPOCH_OFFSET = 946684800;
const ALL_ONES_64 = 0xffffffffffffffffn;

/** One's complement of the byte sum, with the checksum field counted as zero, truncated to 32 bits. */
export function vhdChecksum(buf: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue;
    sum += buf[i]!;
  }
  return ~sum >>> 0;
}

export interface Chs {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/** CHS geometry by the spec's appendix algorithm (identical to blktap `vhd_chs`); rounds down. */
export function vhdChs(size: number): Chs {
  const total = Math.min(Math.ceil(size / SECTOR_SIZE), 65535 * 16 * 255);
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.max(4, Math.ceil(cth / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

/** The packed form blktap compares geometries in: C << 16 | H << 8 | S. */
export function packedChs(chs: Chs): number {
  return chs.cylinders * 65536 + chs.heads * 256 + chs.sectorsPerTrack;
}

export interface VhdFooter {
  cookie: string;
  features: number;
  formatVersion: number;
  dataOffset: bigint;
  timestamp: number;
  creatorApp: string;
  creatorVersion: number;
  creatorHostOs: number;
  originalSize: number;
  currentSize: number;
  chs: Chs;
  diskType: number;
  checksum: number;
  checksumValid: boolean;
  uuid: Buffer;
  savedState: number;
  hidden: number;
  reservedZero: boolean;
}

function readU64(buf: Buffer, offset: number): number {
  const v = buf.readBigUInt64BE(offset);
  // Sizes above 2^53 cannot be real disks; keep them as an impossible number the callers refuse.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
}

export function parseFooter(buf: Buffer): VhdFooter {
  const b = buf.subarray(0, FOOTER_SIZE);
  return {
    cookie: b.toString('latin1', 0, 8),
    features: b.readUInt32BE(8),
    formatVersion: b.readUInt32BE(12),
    dataOffset: b.readBigUInt64BE(16),
    timestamp: b.readUInt32BE(24),
    creatorApp: b.toString('latin1', 28, 32),
    creatorVersion: b.readUInt32BE(32),
    creatorHostOs: b.readUInt32BE(36),
    originalSize: readU64(b, 40),
    currentSize: readU64(b, 48),
    chs: { cylinders: b.readUInt16BE(56), heads: b.readUInt8(58), sectorsPerTrack: b.readUInt8(59) },
    diskType: b.readUInt32BE(60),
    checksum: b.readUInt32BE(64),
    checksumValid: b.length === FOOTER_SIZE && vhdChecksum(b, 64) === b.readUInt32BE(64),
    uuid: Buffer.from(b.subarray(68, 84)),
    savedState: b.readUInt8(84),
    hidden: b.readUInt8(85),
    reservedZero: b.subarray(86, FOOTER_SIZE).every((x) => x === 0),
  };
}

export interface VhdDynamicHeader {
  cookie: string;
  dataOffset: bigint;
  tableOffset: number;
  headerVersion: number;
  maxTableEntries: number;
  blockSize: number;
  checksum: number;
  checksumValid: boolean;
  parentUuid: Buffer;
  parentTimestamp: number;
  parentName: string;
  /** Header bytes 768–1023 (reserved) and 60–63 are zero, as blktap's check demands. */
  reservedZero: boolean;
}

export function parseDynamicHeader(buf: Buffer): VhdDynamicHeader {
  const b = buf.subarray(0, HEADER_SIZE);
  const nameBytes = Buffer.from(b.subarray(64, 576));
  nameBytes.swap16(); // UTF-16BE → LE for Node's decoder
  const parentName = nameBytes.toString('utf16le').replace(/\0.*$/s, '');
  return {
    cookie: b.toString('latin1', 0, 8),
    dataOffset: b.readBigUInt64BE(8),
    tableOffset: readU64(b, 16),
    headerVersion: b.readUInt32BE(24),
    maxTableEntries: b.readUInt32BE(28),
    blockSize: b.readUInt32BE(32),
    checksum: b.readUInt32BE(36),
    checksumValid: b.length === HEADER_SIZE && vhdChecksum(b, 36) === b.readUInt32BE(36),
    parentUuid: Buffer.from(b.subarray(40, 56)),
    parentTimestamp: b.readUInt32BE(56),
    parentName,
    reservedZero: b.readUInt32BE(60) === 0 && b.subarray(768, HEADER_SIZE).every((x) => x === 0),
  };
}

export function isAllOnes64(v: bigint): boolean {
  return v === ALL_ONES_64;
}

export interface TapIdentity {
  /** 16 bytes, non-null. */
  uuid: Buffer;
  /** Seconds since 2000-01-01T00:00:00Z. */
  timestamp: number;
}

export function newTapIdentity(now = Date.now()): TapIdentity {
  return { uuid: Buffer.from(randomUUID().replaceAll('-', ''), 'hex'), timestamp: vhdTimestamp(now) };
}

export function vhdTimestamp(unixMs: number): number {
  return Math.max(0, Math.floor(unixMs / 1000) - VHD_EPOCH_OFFSET) >>> 0;
}

/** The tap footer (written twice, byte-identical): dynamic, creator tap 1.3, floor CHS of the current size. */
export function buildTapFooter(currentSize: number, identity: TapIdentity): Buffer {
  if (identity.uuid.length !== 16 || identity.uuid.every((x) => x === 0))
    throw new Error('tap VHD needs a non-null 16-byte UUID');
  const b = Buffer.alloc(FOOTER_SIZE);
  b.write(FOOTER_COOKIE, 0, 'latin1');
  b.writeUInt32BE(0x00000002, 8);
  b.writeUInt32BE(0x00010000, 12);
  b.writeBigUInt64BE(BigInt(FOOTER_SIZE), 16); // dynamic header follows the footer copy
  b.writeUInt32BE(identity.timestamp >>> 0, 24);
  b.write(TAP_CREATOR, 28, 'latin1');
  b.writeUInt32BE(TAP_CREATOR_VERSION, 32);
  b.writeUInt32BE(0, 36);
  b.writeBigUInt64BE(BigInt(currentSize), 40);
  b.writeBigUInt64BE(BigInt(currentSize), 48);
  // blktap's __vhd_create computes the geometry from the size it stores (already rounded to 2 MiB), and its
  // check compares against vhd_chs(current size): using the same size can never be "geometry too large".
  const chs = vhdChs(currentSize);
  b.writeUInt16BE(chs.cylinders, 56);
  b.writeUInt8(chs.heads, 58);
  b.writeUInt8(chs.sectorsPerTrack, 59);
  b.writeUInt32BE(DISK_TYPE.dynamic, 60);
  identity.uuid.copy(b, 68);
  b.writeUInt32BE(vhdChecksum(b, 64), 64);
  return b;
}

export function buildDynamicHeader(entries: number, tableOffset: number): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write(HEADER_COOKIE, 0, 'latin1');
  b.writeBigUInt64BE(ALL_ONES_64, 8);
  b.writeBigUInt64BE(BigInt(tableOffset), 16);
  b.writeUInt32BE(0x00010000, 24);
  b.writeUInt32BE(entries, 28);
  b.writeUInt32BE(BLOCK_SIZE, 32);
  b.writeUInt32BE(vhdChecksum(b, 36), 36);
  return b;
}

/** Sectors of the batmap for `entries` blocks: one bit per block, rounded up to whole sectors. */
export function batmapSectors(entries: number): number {
  return Math.ceil(Math.ceil(entries / 8) / SECTOR_SIZE);
}

/**
 * blktap's batmap checksum covers only the map bytes implied by the current size:
 * max(1, ceil((current_size >> 24) / 512)) sectors (libvhd `vhd_checksum_batmap`, version ≥ 1.2: unsigned bytes).
 */
export function batmapChecksum(map: Uint8Array, currentSize: number): number {
  const span = Math.max(1, Math.ceil(Math.floor(currentSize / 2 ** 24) / SECTOR_SIZE)) * SECTOR_SIZE;
  let sum = 0;
  for (let i = 0; i < span; i++) sum += map[i] ?? 0;
  return ~sum >>> 0;
}

export function buildBatmapHeader(batmapHeaderOffset: number, entries: number, checksum: number): Buffer {
  const b = Buffer.alloc(BATMAP_HEADER_SIZE);
  b.write(BATMAP_COOKIE, 0, 'latin1');
  b.writeBigUInt64BE(BigInt(batmapHeaderOffset + BATMAP_HEADER_SIZE), 8);
  b.writeUInt32BE(batmapSectors(entries), 16);
  b.writeUInt32BE(BATMAP_VERSION, 20);
  b.writeUInt32BE(checksum, 24);
  return b;
}

export interface TapLayout {
  /** Virtual size as stored: the source size rounded up to 2 MiB. */
  currentSize: number;
  entries: number;
  tableOffset: number;
  batBytes: number;
  batmapHeaderOffset: number;
  batmapBytes: number;
  /** Sector of the first block's bitmap. */
  firstBlockSector: number;
  allocatedBlocks: number;
  totalSize: number;
}

/** Where everything goes in a tap VHD, and its exact size, from the virtual size and the allocated block count. */
export function tapLayout(currentSize: number, allocatedBlocks: number, alignData = true): TapLayout {
  const entries = currentSize / BLOCK_SIZE;
  const tableOffset = FOOTER_SIZE + HEADER_SIZE;
  const batBytes = pad512(entries * 4);
  const batmapHeaderOffset = tableOffset + batBytes;
  const batmapBytes = batmapSectors(entries) * SECTOR_SIZE;
  let firstBlockSector = (batmapHeaderOffset + BATMAP_HEADER_SIZE + batmapBytes) / SECTOR_SIZE;
  // blktap keeps block data 4 KiB aligned: (bitmap sector + 1) % 8 == 0.
  if (alignData) while ((firstBlockSector + 1) % 8 !== 0) firstBlockSector++;
  const totalSize = firstBlockSector * SECTOR_SIZE + allocatedBlocks * BLOCK_SPAN_SECTORS * SECTOR_SIZE + FOOTER_SIZE;
  return {
    currentSize,
    entries,
    tableOffset,
    batBytes,
    batmapHeaderOffset,
    batmapBytes,
    firstBlockSector,
    allocatedBlocks,
    totalSize,
  };
}
