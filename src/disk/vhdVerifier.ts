// Streaming verification of a tap VHD as xenimage writes it and XenServer's vhd-util expects it: identical
// checksummed footers, dynamic header, BAT, batmap (bits and checksum), blocks inside the file without
// overlaps, and the size rules (current size a multiple of 2 MiB, entries × 2 MiB = current size, floor CHS).
// Reads once, front to back, holding only the BAT and the batmap.
import { DiskCorruptError, ImageInvalidError } from './errors.js';
import { BLOCK_SIZE, SECTOR_SIZE, pad512 } from './geometry.js';
import { StreamBytes } from './streamBytes.js';
import {
  BATMAP_COOKIE,
  BATMAP_HEADER_SIZE,
  BATMAP_VERSION,
  BLOCK_BITMAP_SIZE,
  DISK_TYPE,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  HEADER_COOKIE,
  HEADER_SIZE,
  TAP_CREATOR,
  UNALLOCATED,
  VHD_EPOCH_OFFSET,
  batmapChecksum,
  batmapSectors,
  isAllOnes64,
  packedChs,
  parseDynamicHeader,
  parseFooter,
  vhdChs,
} from './vhdFormat.js';

export interface VhdReport {
  vhdBytes: number;
  virtualSize: number;
  blockCount: number;
  allocatedBlocks: number;
  creator: string;
  creatorVersion: string;
  uuid: string;
  /** Creation time (ISO). */
  created: string;
  chs: { cylinders: number; heads: number; sectorsPerTrack: number };
}

function fail(message: string, details?: Record<string, unknown>): never {
  throw new ImageInvalidError(`tap VHD invalid: ${message}`, details);
}

/**
 * Verifies a tap VHD of `totalSize` bytes read from `input`. `expectedVirtualSize`, when given, is the source's
 * virtual size; the VHD must hold it rounded up to 2 MiB.
 */
export async function verifyTapVhd(
  input: AsyncIterable<Buffer>,
  totalSize: number,
  options: { expectedVirtualSize?: number; now?: number } = {},
): Promise<VhdReport> {
  const bytes = new StreamBytes(input, 'tap VHD');
  try {
    return await verify(bytes, totalSize, options);
  } catch (err) {
    if (err instanceof DiskCorruptError) throw new ImageInvalidError(`tap VHD invalid: ${err.message}`, err.details);
    throw err;
  } finally {
    await bytes.close();
  }
}

async function verify(
  bytes: StreamBytes,
  totalSize: number,
  options: { expectedVirtualSize?: number; now?: number },
): Promise<VhdReport> {
  if (totalSize < FOOTER_SIZE + HEADER_SIZE + FOOTER_SIZE) fail(`only ${totalSize} bytes`);
  const footerBuf = Buffer.from(await bytes.read(FOOTER_SIZE, 'footer copy'));
  const f = parseFooter(footerBuf);
  if (f.cookie !== FOOTER_COOKIE) fail('no footer copy at offset 0');
  if (!f.checksumValid) fail('footer checksum is wrong');
  if ((f.features & 2) === 0) fail('footer features lack the reserved bit');
  if (f.formatVersion !== 0x00010000) fail(`footer format version 0x${f.formatVersion.toString(16)}`);
  if (f.diskType !== DISK_TYPE.dynamic) fail(`disk type ${f.diskType}, dynamic (3) expected`);
  if (f.dataOffset !== BigInt(FOOTER_SIZE)) fail(`footer data offset ${f.dataOffset}, 512 expected`);
  if (f.creatorApp !== TAP_CREATOR)
    fail(`creator '${f.creatorApp.replace(/\0/g, '\\0')}', tap expected (XenServer cannot resize it)`);
  if (f.creatorVersion < 0x00010002 || f.creatorVersion > 0x00010003)
    fail(`tap creator version 0x${f.creatorVersion.toString(16)}, 1.2 or 1.3 expected`);
  const current = f.currentSize;
  if (current !== f.originalSize) fail('original size differs from current size');
  if (!Number.isSafeInteger(current) || current <= 0 || current % BLOCK_SIZE !== 0)
    fail(`current size ${current} is not a multiple of 2 MiB`);
  if (
    options.expectedVirtualSize !== undefined &&
    current !== Math.ceil(options.expectedVirtualSize / BLOCK_SIZE) * BLOCK_SIZE
  ) {
    fail(`virtual size ${current}, expected ${options.expectedVirtualSize} rounded up to 2 MiB`, {
      virtualSize: current,
      expected: options.expectedVirtualSize,
    });
  }
  if (packedChs(f.chs) > packedChs(vhdChs(current))) fail('geometry too large for the current size');
  if (f.uuid.every((b) => b === 0)) fail('null UUID');
  if (f.savedState !== 0 || f.hidden !== 0) fail('saved-state or hidden flag set');
  const nowVhd = Math.floor((options.now ?? Date.now()) / 1000) - VHD_EPOCH_OFFSET;
  if (f.timestamp > nowVhd + 1800) fail('creation time more than 30 minutes in the future (vhd-util check refuses it)');

  const h = parseDynamicHeader(await bytes.read(HEADER_SIZE, 'dynamic header'));
  if (h.cookie !== HEADER_COOKIE) fail('dynamic header cookie missing');
  if (!h.checksumValid) fail('dynamic header checksum is wrong');
  if (!isAllOnes64(h.dataOffset)) fail('dynamic header data offset is not 64 one-bits');
  if (h.headerVersion !== 0x00010000) fail('dynamic header version');
  if (h.blockSize !== BLOCK_SIZE) fail(`block size ${h.blockSize}, 2 MiB expected`);
  const entries = current / BLOCK_SIZE;
  if (h.maxTableEntries !== entries)
    fail(`${h.maxTableEntries} table entries, ${entries} expected (entries × 2 MiB = current size)`);
  if (!h.reservedZero || h.parentUuid.some((b) => b !== 0))
    fail('dynamic header reserved or parent fields are not zero');
  if (h.tableOffset < bytes.position || h.tableOffset % SECTOR_SIZE !== 0) fail(`block table offset ${h.tableOffset}`);

  await bytes.skip(h.tableOffset - bytes.position, 'gap');
  const bat = Buffer.from(await bytes.read(pad512(entries * 4), 'block table'));
  const batmapHeaderOffset = bytes.position;
  const bmh = await bytes.read(BATMAP_HEADER_SIZE, 'batmap header');
  if (bmh.toString('latin1', 0, 8) !== BATMAP_COOKIE) fail('no batmap after the block table (tap ≥ 1.2 needs one)');
  const mapOffset = Number(bmh.readBigUInt64BE(8));
  const mapSectors = bmh.readUInt32BE(16);
  if (mapOffset !== batmapHeaderOffset + BATMAP_HEADER_SIZE) fail('batmap offset');
  if (mapSectors !== batmapSectors(entries))
    fail(`batmap of ${mapSectors} sectors, ${batmapSectors(entries)} expected`);
  if (bmh.readUInt32BE(20) !== BATMAP_VERSION) fail('batmap version');
  const map = Buffer.from(await bytes.read(mapSectors * SECTOR_SIZE, 'batmap'));
  if (batmapChecksum(map, current) !== bmh.readUInt32BE(24)) fail('batmap checksum is wrong');
  const metadataEnd = bytes.position;

  const blocks: Array<{ index: number; offset: number; full: boolean }> = [];
  for (let i = 0; i < entries; i++) {
    const sector = bat.readUInt32BE(i * 4);
    const full = ((map[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0;
    if (sector === UNALLOCATED) {
      if (full) fail(`batmap marks unallocated block ${i}`);
      continue;
    }
    const offset = sector * SECTOR_SIZE;
    if (offset < metadataEnd) fail(`block ${i} overlaps the metadata`);
    if (offset + BLOCK_BITMAP_SIZE + BLOCK_SIZE > totalSize - FOOTER_SIZE)
      fail(`block ${i} lies beyond the footer`, { block: i });
    blocks.push({ index: i, offset, full });
  }
  blocks.sort((a, b) => a.offset - b.offset);
  for (const b of blocks) {
    if (b.offset < bytes.position) fail(`block ${b.index} overlaps another block`);
    await bytes.skip(b.offset - bytes.position, 'gap');
    const bitmap = await bytes.read(BLOCK_BITMAP_SIZE, `bitmap of block ${b.index}`);
    if (b.full && !bitmap.every((x) => x === 0xff)) fail(`batmap marks block ${b.index} full but its bitmap is not`);
    await bytes.skip(BLOCK_SIZE, `block ${b.index}`);
  }
  if (bytes.position > totalSize - FOOTER_SIZE) fail('blocks overlap the footer');
  await bytes.skip(totalSize - FOOTER_SIZE - bytes.position, 'gap before the footer');
  const tail = await bytes.read(FOOTER_SIZE, 'footer');
  if (!tail.equals(footerBuf)) fail('primary and backup footers do not match');
  const rest = await bytes.readTail(1);
  if (rest.length > 0) fail(`${rest.length} bytes after the footer`);
  return {
    vhdBytes: totalSize,
    virtualSize: current,
    blockCount: entries,
    allocatedBlocks: blocks.length,
    creator: 'tap',
    creatorVersion: `${f.creatorVersion >>> 16}.${f.creatorVersion & 0xffff}`,
    uuid: f.uuid.toString('hex'),
    created: new Date((f.timestamp + VHD_EPOCH_OFFSET) * 1000).toISOString(),
    chs: f.chs,
  };
}
