// Writes a tap VHD straight to a file. Unlike the stream (whose consumers may keep each block buffer for
// an unknown time), the file writer knows when a block's bytes are on disk, so it reuses a few 2 MiB buffers
// instead of allocating one per block: no garbage to collect, which measured about twice as fast
// (bench/, docs/decisions/disk-0003-parallel-gzip.md). Used by `xenimage convert DST.vhd`.
import { open } from 'node:fs/promises';
import { BLOCK_SIZE } from './geometry.js';
import type { DiskReader } from './reader.js';
import { FULL_BITMAP, tapVhdHead, type TapVhdOptions } from './tapVhdWriter.js';
import type { TapIdentity, TapLayout } from './vhdFormat.js';

export interface TapVhdFileOptions extends TapVhdOptions {
  /** Blocks read ahead of the one being written (default 2). */
  readAhead?: number;
  /** fsync the file before returning (default true). */
  sync?: boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Open flags (default 'wx': never overwrite). */
  flags?: string;
}

export async function writeTapVhdFile(
  reader: DiskReader,
  file: string,
  options: TapVhdFileOptions = {},
): Promise<{ size: number; layout: TapLayout; identity: TapIdentity }> {
  const { signal } = options;
  const order = reader.allocatedBlocks;
  const { head, footer, layout, identity } = tapVhdHead(reader.virtualSize, order, options);
  const ahead = Math.max(1, options.readAhead ?? 2);
  const pool: Buffer[] = Array.from({ length: ahead + 1 }, () => Buffer.allocUnsafe(BLOCK_SIZE));
  const fh = await open(file, options.flags ?? 'wx');
  const inFlight: Array<Promise<Buffer>> = [];
  try {
    let position = 0;
    const write = async (...buffers: Buffer[]) => {
      const { bytesWritten } = await fh.writev(buffers, position);
      const total = buffers.reduce((n, b) => n + b.length, 0);
      if (bytesWritten !== total) throw new Error(`short write to ${file}`);
      position += total;
      options.onProgress?.(position, layout.totalSize);
    };
    await write(head);
    let next = 0;
    const fill = () => {
      while (inFlight.length < ahead && next < order.length) {
        const p = reader.readBlock(order[next++]!, signal, pool.pop()!);
        p.catch(() => undefined); // awaited in turn below
        inFlight.push(p);
      }
    };
    fill();
    while (inFlight.length > 0) {
      signal?.throwIfAborted();
      const block = await inFlight.shift()!;
      await write(FULL_BITMAP, block);
      pool.push(block); // on disk: reuse it
      fill();
    }
    await write(footer);
    if (position !== layout.totalSize) throw new Error(`wrote ${position} bytes, announced ${layout.totalSize}`);
    if (options.sync ?? true) await fh.sync();
    return { size: layout.totalSize, layout, identity };
  } finally {
    await Promise.allSettled(inFlight);
    await fh.close();
  }
}
