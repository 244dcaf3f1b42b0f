// Writes a tap VHD straight to a file (`xenimage convert DST.vhd`). Unlike the stream (whose consumers may keep
// each block buffer for an unknown time), the file writer knows when a block's bytes are on disk, so it cycles
// a few 2 MiB buffers: every free buffer is being filled by a read, and whatever has been read, in order, goes
// out in one positional `writev` (bitmap, block, bitmap, block…) while the next reads run. Measured against
// `qemu-img convert -O vpc` in bench/; why it is built this way: docs/decisions/disk-0004-conversion-data-path.md.
import { open } from 'node:fs/promises';
import { BLOCK_SIZE } from './geometry.js';
import type { DiskReader } from './reader.js';
import { FULL_BITMAP, tapVhdHead, type TapVhdOptions } from './tapVhdWriter.js';
import type { TapIdentity, TapLayout } from './vhdFormat.js';

export interface TapVhdFileOptions extends TapVhdOptions {
  /** 2 MiB buffers cycled between reads and writes (default 3: two reads in flight while one batch is written; at least 2). */
  buffers?: number;
  /** fsync the file before returning (default true). */
  sync?: boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Open flags (default 'wx': never overwrite). */
  flags?: string;
}

/** At most this many blocks per `writev` (2 iovecs each; far below IOV_MAX). */
const MAX_BATCH = 8;

interface Slot {
  buffer: Buffer;
  read: Promise<void>;
  done: boolean;
}

export async function writeTapVhdFile(
  reader: DiskReader,
  file: string,
  options: TapVhdFileOptions = {},
): Promise<{ size: number; layout: TapLayout; identity: TapIdentity }> {
  const { signal } = options;
  const order = reader.allocatedBlocks;
  const { head, footer, layout, identity } = tapVhdHead(reader.virtualSize, order, options);
  const count = Math.max(2, options.buffers ?? 3);
  const free: Buffer[] = Array.from({ length: Math.min(count, Math.max(1, order.length)) }, () =>
    Buffer.allocUnsafe(BLOCK_SIZE),
  );
  const queue: Slot[] = [];
  let next = 0;
  const startReads = () => {
    while (free.length > 0 && next < order.length) {
      const buffer = free.pop()!;
      const slot: Slot = { buffer, done: false, read: Promise.resolve() };
      slot.read = reader.readBlock(order[next++]!, signal, buffer).then((got) => {
        if (got !== buffer) got.copy(buffer); // a reader may hand back its own buffer; ours is what we cycle
        slot.done = true;
      });
      slot.read.catch(() => undefined); // awaited in turn below
      queue.push(slot);
    }
  };

  const fh = await open(file, options.flags ?? 'wx');
  try {
    let position = 0;
    const write = async (buffers: Buffer[]) => {
      const total = buffers.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await fh.writev(buffers, position);
      if (bytesWritten !== total) throw new Error(`short write to ${file}`);
      position += total;
      options.onProgress?.(position, layout.totalSize);
    };
    await write([head]);
    startReads();
    while (queue.length > 0) {
      signal?.throwIfAborted();
      await queue[0]!.read;
      // Everything already read, in order, goes out in one call; the reads in flight go on meanwhile.
      const batch: Buffer[] = [];
      const done: Slot[] = [];
      while (queue.length > 0 && queue[0]!.done && done.length < MAX_BATCH) {
        const slot = queue.shift()!;
        done.push(slot);
        batch.push(FULL_BITMAP, slot.buffer);
      }
      await write(batch);
      for (const slot of done) free.push(slot.buffer); // on its way to disk: reuse it
      startReads();
    }
    await write([footer]);
    if (position !== layout.totalSize) throw new Error(`wrote ${position} bytes, announced ${layout.totalSize}`);
    if (options.sync ?? true) await fh.sync();
    return { size: layout.totalSize, layout, identity };
  } finally {
    // On early exit (error, abort) let in-flight reads settle before the caller closes the source.
    await Promise.allSettled(queue.map((s) => s.read));
    await fh.close();
  }
}
