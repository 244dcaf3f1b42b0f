// The tap VHD writer: a dynamic VHD laid out exactly as blktap's `vhd-util create` does (docs/reference/disks.md §3),
// emitted as one sequential stream whose total size is known before the first byte.
import { Readable, addAbortSignal } from 'node:stream';
import { BLOCK_SIZE, roundUpToBlock } from './geometry.js';
import type { BlockPool } from './blockPool.js';
import type { DiskReader } from './reader.js';
import {
  BATMAP_HEADER_SIZE,
  BLOCK_BITMAP_SIZE,
  BLOCK_SPAN_SECTORS,
  batmapChecksum,
  buildBatmapHeader,
  buildDynamicHeader,
  buildTapFooter,
  newTapIdentity,
  tapLayout,
  type TapIdentity,
  type TapLayout,
} from './vhdFormat.js';

export interface TapVhdOptions {
  /** UUID and timestamp; pass the same identity to produce byte-identical output twice. */
  identity?: TapIdentity;
  /** Keep block data 4 KiB aligned like blktap (default true). */
  alignData?: boolean;
  signal?: AbortSignal;
}

export interface TapVhdStream {
  /** The VHD bytes; backpressure is honoured (blocks are read only as fast as they are consumed). */
  stream: Readable;
  /** Exact total size in bytes, known before the first byte. */
  size: number;
  layout: TapLayout;
  identity: TapIdentity;
}

/** A fully allocated bitmap: every sector of the block is present in this file. */
export const FULL_BITMAP = Buffer.alloc(BLOCK_BITMAP_SIZE, 0xff);

export interface TapVhdHead {
  /** Footer copy, header, BAT, batmap header, batmap and the alignment gap: everything before the first block. */
  head: Buffer;
  /** The footer, written again at the very end. */
  footer: Buffer;
  layout: TapLayout;
  identity: TapIdentity;
}

/** Everything of a tap VHD but its blocks, for blocks placed in `blockOrder`. */
export function tapVhdHead(virtualSize: number, blockOrder: Uint32Array, options: TapVhdOptions = {}): TapVhdHead {
  const currentSize = roundUpToBlock(virtualSize);
  const layout = tapLayout(currentSize, blockOrder.length, options.alignData ?? true);
  const identity = options.identity ?? newTapIdentity();
  const footer = buildTapFooter(currentSize, identity);
  // Everything is written in place into the one head buffer (the BAT alone is 2 MiB per TiB of disk: no copies).
  const head = Buffer.alloc(layout.firstBlockSector * 512); // the tail of it is the zero alignment gap
  footer.copy(head, 0);
  buildDynamicHeader(layout.entries, layout.tableOffset).copy(head, footer.length);
  const bat = head.subarray(layout.tableOffset, layout.tableOffset + layout.batBytes).fill(0xff);
  const batmapOffset = layout.batmapHeaderOffset + BATMAP_HEADER_SIZE;
  const batmap = head.subarray(batmapOffset, batmapOffset + layout.batmapBytes);
  blockOrder.forEach((block, k) => {
    if (block >= layout.entries) throw new RangeError(`block ${block} is outside a ${layout.entries}-block disk`);
    if (bat.readUInt32BE(block * 4) !== 0xffffffff) throw new RangeError(`block ${block} listed twice`);
    bat.writeUInt32BE(layout.firstBlockSector + k * BLOCK_SPAN_SECTORS, block * 4);
    batmap[block >> 3]! |= 0x80 >> (block & 7); // every block we write has a full bitmap
  });
  buildBatmapHeader(layout.batmapHeaderOffset, layout.entries, batmapChecksum(batmap, currentSize)).copy(
    head,
    layout.batmapHeaderOffset,
  );
  return { head, footer, layout, identity };
}

/**
 * Builds the tap VHD stream for blocks that arrive in `blockOrder` (guest block indexes, in the order `blocks`
 * yields their 2 MiB of data). Blocks are placed in the file in that order; the BAT points at each.
 */
export function tapVhdStream(
  virtualSize: number,
  blockOrder: Uint32Array,
  blocks: AsyncIterable<Buffer>,
  options: TapVhdOptions = {},
): TapVhdStream {
  const { head, footer, layout, identity } = tapVhdHead(virtualSize, blockOrder, options);

  async function* generate(): AsyncGenerator<Buffer> {
    yield head;
    let written = 0;
    for await (const data of blocks) {
      if (written >= blockOrder.length) throw new Error('more blocks than announced');
      if (data.length !== BLOCK_SIZE) throw new Error(`block of ${data.length} bytes, expected ${BLOCK_SIZE}`);
      yield FULL_BITMAP;
      yield data;
      written++;
    }
    if (written !== blockOrder.length) throw new Error(`only ${written} of ${blockOrder.length} blocks arrived`);
    yield footer;
  }

  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: BLOCK_SIZE });
  if (options.signal) addAbortSignal(options.signal, stream);
  return { stream, size: layout.totalSize, layout, identity };
}

/** Reads the allocated blocks of `reader` in ascending order, keeping `ahead` reads in flight. */
export async function* readAllocatedBlocks(
  reader: DiskReader,
  ahead = 2,
  signal?: AbortSignal,
  pool?: BlockPool,
): AsyncGenerator<Buffer> {
  const order = reader.allocatedBlocks;
  const pending: Array<Promise<Buffer>> = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < order.length) {
      const p = reader.readBlock(order[next++]!, signal, pool?.acquire());
      p.catch(() => undefined); // awaited below; avoid an unhandled rejection while it waits its turn
      pending.push(p);
    }
  };
  try {
    fill();
    while (pending.length > 0) {
      const block = await pending.shift()!;
      fill();
      yield block;
    }
  } finally {
    // On early exit (error, destroy) let in-flight reads settle before the caller closes the source.
    await Promise.allSettled(pending);
  }
}

/**
 * The tap VHD of a disk reader: its allocated blocks, ascending. With `pool`, block buffers come from the pool
 * and are lent downstream with their end offset in the VHD stream (the consumer then calls
 * `pool.releaseUpTo(offset)` as it finishes with bytes).
 */
export function createTapVhdStream(
  reader: DiskReader,
  options: TapVhdOptions & { readAhead?: number; pool?: BlockPool } = {},
): TapVhdStream {
  const { pool } = options;
  let blocks = readAllocatedBlocks(reader, options.readAhead, options.signal, pool);
  if (pool) {
    const source = blocks;
    const firstData =
      tapLayout(roundUpToBlock(reader.virtualSize), reader.allocatedBlocks.length, options.alignData ?? true)
        .firstBlockSector * 512;
    blocks = (async function* lendBlocks() {
      let k = 0;
      for await (const block of source) {
        pool.lend(block, firstData + k * BLOCK_SPAN_SECTORS * 512 + BLOCK_BITMAP_SIZE + BLOCK_SIZE);
        k++;
        yield block;
      }
    })();
  }
  return tapVhdStream(reader.virtualSize, reader.allocatedBlocks, blocks, options);
}
