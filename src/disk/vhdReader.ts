// VHD reader for fixed and dynamic disks of any creator (qemu, Hyper-V, Virtual PC, blktap, Azure…). The
// virtual size is the footer's current size (what Hyper-V, blktap and libvhdi use). Differencing disks are
// refused: their data lives partly in a parent. Facts: docs/reference/disks.md §1.
import { DiskCorruptError, DiskFormatUnsupportedError } from './errors.js';
import { BLOCK_SIZE, SECTOR_SIZE, blockCountFor } from './geometry.js';
import { BlockSet, assertBlockIndex, assertConvertibleSize, type DiskReader } from './reader.js';
import { readAt, type ByteSource } from './source.js';
import {
  DISK_TYPE,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  HEADER_COOKIE,
  HEADER_SIZE,
  UNALLOCATED,
  parseDynamicHeader,
  parseFooter,
  type VhdFooter,
} from './vhdFormat.js';

/** BATs above this many bytes are refused (bounds memory: 2040 GiB in 2 MiB blocks needs 4 MiB). */
const MAX_BAT_BYTES = 32 * 1024 * 1024;

export interface VhdLocation {
  footer: VhdFooter;
  /** Whether the trailing footer (at end of file) is valid; the copy at 0 is used otherwise. */
  footerAtEnd: boolean;
}

/** Finds a valid footer: the one at the end of the file, else the copy at offset 0 (dynamic disks). */
export async function locateVhdFooter(source: ByteSource, signal?: AbortSignal): Promise<VhdLocation> {
  const what = source.description;
  if (source.size < FOOTER_SIZE) throw new DiskCorruptError(`${what}: too small for a VHD (${source.size} bytes)`);
  const tail = parseFooter(await readAt(source, source.size - FOOTER_SIZE, FOOTER_SIZE, 'VHD footer', signal));
  if (tail.cookie === FOOTER_COOKIE && tail.checksumValid) return { footer: tail, footerAtEnd: true };
  const head = parseFooter(await readAt(source, 0, FOOTER_SIZE, 'VHD footer copy', signal));
  if (head.cookie === FOOTER_COOKIE && head.checksumValid && head.diskType !== DISK_TYPE.fixed)
    return { footer: head, footerAtEnd: false };
  if (tail.cookie === FOOTER_COOKIE || head.cookie === FOOTER_COOKIE) {
    throw new DiskCorruptError(`${what}: VHD footer checksum is wrong and no valid copy exists`);
  }
  throw new DiskCorruptError(`${what}: no VHD footer found`);
}

export class VhdReader implements DiskReader {
  readonly format = 'vhd' as const;
  readonly allocatedBlocks: Uint32Array;

  /** Use `VhdReader.open`. */
  constructor(
    private readonly source: ByteSource,
    readonly footer: VhdFooter,
    readonly virtualSize: number,
    private readonly dynamic: { blockSize: number; bat: Uint32Array; bitmapSize: number } | undefined,
    allocated: Uint32Array,
  ) {
    this.allocatedBlocks = allocated;
  }

  /** `fixedDataExtents` lists byte ranges of the fixed disk's data that hold data (holes excluded), when known. */
  static async open(
    source: ByteSource,
    options: {
      signal?: AbortSignal;
      fixedDataExtents?: (size: number) => Promise<Array<[number, number]> | undefined>;
    } = {},
  ): Promise<VhdReader> {
    const { signal } = options;
    const what = source.description;
    const { footer, footerAtEnd } = await locateVhdFooter(source, signal);
    const size = footer.currentSize;
    if (footer.diskType === DISK_TYPE.differencing) {
      let parent = '';
      const headerOffset = Number(footer.dataOffset);
      if (headerOffset + HEADER_SIZE <= source.size) {
        parent = parseDynamicHeader(await readAt(source, headerOffset, HEADER_SIZE, 'VHD header', signal)).parentName;
      }
      throw new DiskFormatUnsupportedError(
        `${what}: differencing VHD (parent '${parent || '?'}'); merge it into its parent first (e.g. vhd-util coalesce or qemu-img convert)`,
        { parent },
      );
    }
    assertConvertibleSize(size, what);
    if (footer.diskType === DISK_TYPE.fixed) {
      if (size + FOOTER_SIZE > source.size) {
        throw new DiskCorruptError(`${what}: fixed VHD of ${size} bytes is truncated (file has ${source.size} bytes)`, {
          size,
          fileSize: source.size,
        });
      }
      const blocks = new BlockSet(blockCountFor(size));
      const extents = (await options.fixedDataExtents?.(size)) ?? [[0, size]];
      for (const [start, end] of extents) blocks.addRange(start, Math.min(end, size));
      return new VhdReader(source, footer, size, undefined, blocks.toSortedArray());
    }
    if (footer.diskType !== DISK_TYPE.dynamic) {
      throw new DiskFormatUnsupportedError(`${what}: VHD disk type ${footer.diskType} is not supported`, {
        diskType: footer.diskType,
      });
    }
    return openDynamic(source, footer, footerAtEnd, signal);
  }

  async readBlock(index: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    assertBlockIndex(this, index);
    const start = index * BLOCK_SIZE;
    const end = Math.min(this.virtualSize, start + BLOCK_SIZE);
    if (!this.dynamic) {
      const out = into ?? Buffer.allocUnsafe(BLOCK_SIZE);
      if (end - start < BLOCK_SIZE) out.fill(0, end - start);
      await this.source.read(out.subarray(0, end - start), start, signal);
      return out;
    }
    const { blockSize, bat, bitmapSize } = this.dynamic;
    if (blockSize === BLOCK_SIZE) {
      // The common case: one input block.
      const sector = bat[index]!;
      if (sector === UNALLOCATED) return into ? into.fill(0) : Buffer.alloc(BLOCK_SIZE);
      let out: Buffer;
      let bitmap: Buffer;
      if (into) {
        // Bitmap and data side by side (two reads at once, not one after the other).
        out = into;
        const [map] = await Promise.all([
          readAt(this.source, sector * SECTOR_SIZE, bitmapSize, 'VHD block bitmap', signal),
          this.source.read(out, sector * SECTOR_SIZE + bitmapSize, signal),
        ]);
        bitmap = map;
      } else {
        // Bitmap and data in one read (one request for HTTP sources).
        const buf = Buffer.allocUnsafe(bitmapSize + BLOCK_SIZE);
        await this.source.read(buf, sector * SECTOR_SIZE, signal);
        bitmap = buf.subarray(0, bitmapSize);
        out = buf.subarray(bitmapSize);
      }
      applyBitmap(bitmap, out, 0, BLOCK_SIZE);
      if (end - start < BLOCK_SIZE) out.fill(0, end - start);
      return out;
    }
    // Other block sizes: gather the pieces of every input block overlapping this 2 MiB range.
    const out = into ? into.fill(0) : Buffer.alloc(BLOCK_SIZE);
    for (let pos = start; pos < end;) {
      const j = Math.floor(pos / blockSize);
      const blockStart = j * blockSize;
      const pieceEnd = Math.min(end, blockStart + blockSize);
      const sector = bat[j]!;
      if (sector !== UNALLOCATED) {
        const bitmap = await readAt(this.source, sector * SECTOR_SIZE, bitmapSize, 'VHD block bitmap', signal);
        const target = out.subarray(pos - start, pieceEnd - start);
        await this.source.read(target, sector * SECTOR_SIZE + bitmapSize + (pos - blockStart), signal);
        applyBitmap(bitmap, target, (pos - blockStart) / SECTOR_SIZE, target.length);
      }
      pos = pieceEnd;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}

async function openDynamic(
  source: ByteSource,
  footer: VhdFooter,
  footerAtEnd: boolean,
  signal?: AbortSignal,
): Promise<VhdReader> {
  const what = source.description;
  const size = footer.currentSize;
  const headerOffset =
    footer.dataOffset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(footer.dataOffset);
  if (headerOffset < FOOTER_SIZE || headerOffset + HEADER_SIZE > source.size) {
    throw new DiskCorruptError(`${what}: VHD dynamic header offset ${footer.dataOffset} lies outside the file`);
  }
  const header = parseDynamicHeader(await readAt(source, headerOffset, HEADER_SIZE, 'VHD dynamic header', signal));
  if (header.cookie !== HEADER_COOKIE) throw new DiskCorruptError(`${what}: VHD dynamic header cookie missing`);
  if (!header.checksumValid) throw new DiskCorruptError(`${what}: VHD dynamic header checksum is wrong`);
  const bs = header.blockSize;
  if (bs < 4096 || bs > 256 * 1024 * 1024 || (bs & (bs - 1)) !== 0) {
    throw new DiskFormatUnsupportedError(
      `${what}: VHD block size ${bs} is not supported (powers of two, 4 KiB–256 MiB)`,
      { blockSize: bs },
    );
  }
  const needed = Math.ceil(size / bs);
  if (header.maxTableEntries < needed) {
    throw new DiskCorruptError(
      `${what}: VHD block table has ${header.maxTableEntries} entries, ${needed} are needed for ${size} bytes`,
    );
  }
  if (needed * 4 > MAX_BAT_BYTES) {
    throw new DiskFormatUnsupportedError(
      `${what}: VHD block table of ${needed * 4} bytes exceeds the ${MAX_BAT_BYTES}-byte limit`,
    );
  }
  const tableOffset = header.tableOffset;
  if (!Number.isSafeInteger(tableOffset) || tableOffset + needed * 4 > source.size) {
    throw new DiskCorruptError(`${what}: VHD block table lies beyond the end of the file (truncated?)`, {
      tableOffset,
      size: source.size,
    });
  }
  const raw = await readAt(source, tableOffset, needed * 4, 'VHD block table', signal);
  const bat = new Uint32Array(needed);
  for (let i = 0; i < needed; i++) bat[i] = raw.readUInt32BE(i * 4);
  const bitmapSize = Math.ceil(bs / SECTOR_SIZE / 8 / SECTOR_SIZE) * SECTOR_SIZE;
  const spanBytes = bitmapSize + bs;
  const dataEnd = source.size - (footerAtEnd ? FOOTER_SIZE : 0);

  // Every block lies inside the file and overlaps neither the metadata nor another block.
  const regions: Array<[number, number, string]> = [
    [0, FOOTER_SIZE, 'the footer copy'],
    [headerOffset, headerOffset + HEADER_SIZE, 'the dynamic header'],
    [tableOffset, tableOffset + needed * 4, 'the block table'],
  ];
  const blocks = new BlockSet(blockCountFor(size));
  const starts = new Float64Array(needed);
  let n = 0;
  for (let j = 0; j < needed; j++) {
    const sector = bat[j]!;
    if (sector === UNALLOCATED) continue;
    const start = sector * SECTOR_SIZE;
    if (start + spanBytes > dataEnd) {
      throw new DiskCorruptError(
        `${what}: VHD block ${j} at byte ${start} lies beyond the end of the file (${source.size} bytes)`,
        {
          block: j,
          offset: start,
          size: source.size,
        },
      );
    }
    for (const [rs, re, name] of regions) {
      if (start < re && start + spanBytes > rs)
        throw new DiskCorruptError(`${what}: VHD block ${j} overlaps ${name}`, { block: j });
    }
    starts[n++] = start;
    blocks.addRange(j * bs, Math.min(size, (j + 1) * bs));
  }
  const sorted = starts.subarray(0, n).sort();
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]! - sorted[i - 1]! < spanBytes) {
      throw new DiskCorruptError(
        `${what}: VHD blocks overlap (block table entries point into each other at byte ${sorted[i]})`,
      );
    }
  }
  return new VhdReader(source, footer, size, { blockSize: bs, bat, bitmapSize }, blocks.toSortedArray());
}

/** Zeroes the sectors whose bitmap bit (MSB first) is clear; `firstSector` is the bitmap index of `data[0]`. */
export function applyBitmap(bitmap: Buffer, data: Buffer, firstSector: number, length: number): void {
  const sectors = length / SECTOR_SIZE;
  // Fast path: all bits set for the range (what qemu and blktap always write).
  if (firstSector === 0 && sectors % 8 === 0 && bitmap.subarray(0, sectors / 8).every((b) => b === 0xff)) return;
  for (let s = 0; s < sectors; s++) {
    const bit = firstSector + s;
    if (((bitmap[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) === 0) data.fill(0, s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE);
  }
}
