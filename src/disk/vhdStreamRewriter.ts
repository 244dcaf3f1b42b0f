// One-pass re-writer for a dynamic VHD arriving as a stream (XenServer's `GET /export_raw_vdi?format=vhd`:
// footer copy, `cxsparse` header, BAT, then bitmap + 2 MiB data blocks in file order, then the footer; no
// Content-Length). The head (footer, header, BAT) gives the output size before any data; blocks are copied
// through as they arrive, partial bitmaps honoured (clear bits read as zero), and placed in the output in
// the order they arrive, so any input order streams with bounded memory.
import type { Readable } from 'node:stream';
import { DiskCorruptError, DiskFormatUnsupportedError, DiskSourceError } from './errors.js';
import type { BlockPool } from './blockPool.js';
import { BLOCK_SIZE, SECTOR_SIZE, blockCountFor, roundUpToBlock } from './geometry.js';
import { assertConvertibleSize } from './reader.js';
import { StreamBytes } from './streamBytes.js';
import { tapVhdStream, type TapVhdOptions, type TapVhdStream } from './tapVhdWriter.js';
import { applyBitmap } from './vhdReader.js';
import {
  BLOCK_BITMAP_SIZE,
  BLOCK_SPAN_SECTORS,
  DISK_TYPE,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  HEADER_COOKIE,
  HEADER_SIZE,
  UNALLOCATED,
  parseDynamicHeader,
  parseFooter,
  tapLayout,
} from './vhdFormat.js';

export interface RewrittenVhd extends TapVhdStream {
  virtualSize: number;
}

/**
 * `endIsTransient`: treat an early end as a dropped connection (retryable); default true (network exports).
 * `pool`: block buffers come from it and are lent with their end offset in the VHD stream (the consumer calls
 * `pool.releaseUpTo(offset)` as it finishes with bytes), as `createTapVhdStream` does.
 */
export async function rewriteVhdStream(
  input: Readable | AsyncIterable<Buffer>,
  options: TapVhdOptions & { what?: string; endIsTransient?: boolean; pool?: BlockPool } = {},
): Promise<RewrittenVhd> {
  const what = options.what ?? 'VHD stream';
  const bytes = new StreamBytes(input, what, options.endIsTransient ?? true);
  try {
    const footerBuf = await bytes.read(FOOTER_SIZE, 'the VHD footer copy');
    const footer = parseFooter(footerBuf);
    if (footer.cookie !== FOOTER_COOKIE)
      throw new DiskCorruptError(`${what}: does not start with a VHD footer copy (a dynamic VHD is expected)`);
    if (!footer.checksumValid) throw new DiskCorruptError(`${what}: VHD footer checksum is wrong`);
    if (footer.diskType === DISK_TYPE.differencing)
      throw new DiskFormatUnsupportedError(`${what}: differencing VHD; export the full disk instead`);
    if (footer.diskType !== DISK_TYPE.dynamic)
      throw new DiskFormatUnsupportedError(
        `${what}: VHD disk type ${footer.diskType} cannot be streamed (dynamic expected)`,
      );
    const virtualSize = footer.currentSize;
    assertConvertibleSize(virtualSize, what);

    const headerOffset = Number(footer.dataOffset);
    if (!Number.isSafeInteger(headerOffset) || headerOffset < FOOTER_SIZE)
      throw new DiskCorruptError(`${what}: VHD header offset ${footer.dataOffset} is invalid`);
    await bytes.skip(headerOffset - bytes.position, 'the gap before the VHD header');
    const header = parseDynamicHeader(await bytes.read(HEADER_SIZE, 'the VHD dynamic header'));
    if (header.cookie !== HEADER_COOKIE || !header.checksumValid)
      throw new DiskCorruptError(`${what}: VHD dynamic header is invalid (cookie or checksum)`);
    if (header.blockSize !== BLOCK_SIZE) {
      throw new DiskFormatUnsupportedError(
        `${what}: VHD block size ${header.blockSize} cannot be streamed (2 MiB expected)`,
        { blockSize: header.blockSize },
      );
    }
    const entries = blockCountFor(virtualSize);
    if (header.maxTableEntries < entries)
      throw new DiskCorruptError(`${what}: VHD block table too small for the disk size`);
    if (header.tableOffset < bytes.position)
      throw new DiskCorruptError(`${what}: VHD block table precedes the header; cannot stream`);
    await bytes.skip(header.tableOffset - bytes.position, 'the gap before the VHD block table');
    const batRaw = await bytes.read(entries * 4, 'the VHD block table');
    const batEnd = bytes.position;

    // File order of the allocated blocks, validated before anything is emitted.
    const found: Array<{ index: number; offset: number }> = [];
    for (let j = 0; j < entries; j++) {
      const sector = batRaw.readUInt32BE(j * 4);
      if (sector === UNALLOCATED) continue;
      const offset = sector * SECTOR_SIZE;
      if (offset < batEnd)
        throw new DiskCorruptError(`${what}: VHD block ${j} lies before the end of the block table; cannot stream`, {
          block: j,
        });
      found.push({ index: j, offset });
    }
    found.sort((a, b) => a.offset - b.offset);
    for (let k = 1; k < found.length; k++) {
      if (found[k]!.offset - found[k - 1]!.offset < BLOCK_BITMAP_SIZE + BLOCK_SIZE)
        throw new DiskCorruptError(`${what}: VHD blocks overlap`);
    }
    const order = Uint32Array.from(found, (f) => f.index);

    const firstData =
      tapLayout(roundUpToBlock(virtualSize), order.length, options.alignData ?? true).firstBlockSector * SECTOR_SIZE;
    const { pool } = options;
    let k = 0;
    async function* blocks(): AsyncGenerator<Buffer> {
      try {
        for (const { index, offset } of found) {
          await bytes.skip(offset - bytes.position, 'the gap before a block');
          const bitmap = Buffer.from(await bytes.read(BLOCK_BITMAP_SIZE, `the bitmap of block ${index}`));
          // Into a pooled buffer, lent downstream until the consumer reports it released (no 2 MiB of garbage
          // per block, which the GC let pile up while a slow upload held the pipeline back).
          const data = pool?.acquire() ?? Buffer.allocUnsafe(BLOCK_SIZE);
          await bytes.readInto(data, `block ${index}`);
          applyBitmap(bitmap, data, 0, BLOCK_SIZE);
          const end = virtualSize - index * BLOCK_SIZE;
          if (end < BLOCK_SIZE) data.fill(0, end);
          pool?.lend(data, firstData + (k + 1) * BLOCK_SPAN_SECTORS * SECTOR_SIZE);
          k++;
          yield data;
        }
        const { tail } = await bytes.readTail(FOOTER_SIZE);
        const trailer = parseFooter(tail.length === FOOTER_SIZE ? tail : Buffer.alloc(FOOTER_SIZE));
        if (trailer.cookie !== FOOTER_COOKIE || !trailer.checksumValid) {
          throw options.endIsTransient === false
            ? new DiskCorruptError(`${what}: stream ended without the trailing VHD footer (truncated)`)
            : new DiskSourceError(
                'DiskSourceUnavailable',
                `${what}: stream ended without the trailing VHD footer (connection dropped or truncated)`,
                { retryable: true },
              );
        }
      } finally {
        await bytes.close();
      }
    }
    const out = tapVhdStream(virtualSize, order, blocks(), options);
    return { ...out, virtualSize };
  } catch (err) {
    await bytes.close();
    throw err;
  }
}
