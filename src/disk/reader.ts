// What every disk reader offers the writers: the format, the virtual size and the allocated 2 MiB blocks, all
// known before any guest data is read, and positional reads of one block of guest data.
import { BLOCK_SIZE, MAX_VIRTUAL_SIZE, formatBytes } from './geometry.js';
import { DiskFormatUnsupportedError } from './errors.js';

export type NativeFormat = 'raw' | 'qcow2' | 'vhd';

export interface DiskReader {
  readonly format: NativeFormat;
  /** Guest-visible size in bytes (not rounded). */
  readonly virtualSize: number;
  /** Indexes of the 2 MiB blocks holding data, ascending. Zero-flagged and unallocated ranges are not data. */
  readonly allocatedBlocks: Uint32Array;
  /**
   * The guest bytes of block `index`: exactly 2 MiB, zeros beyond the virtual size and in holes. With `into`
   * (a 2 MiB buffer the caller owns, e.g. from a pool) the bytes are written there and `into` is returned.
   */
  readBlock(index: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/** Collects allocated block indexes as a bitset and hands them out as a sorted list. */
export class BlockSet {
  private readonly bits: Uint8Array;

  constructor(readonly blockCount: number) {
    this.bits = new Uint8Array(Math.ceil(blockCount / 8));
  }

  add(index: number): void {
    this.bits[index >> 3]! |= 1 << (index & 7);
  }

  /** Marks every block touched by the guest byte range [start, end). */
  addRange(start: number, end: number): void {
    if (end <= start) return;
    const last = Math.min(this.blockCount - 1, Math.floor((end - 1) / BLOCK_SIZE));
    for (let i = Math.floor(start / BLOCK_SIZE); i <= last; i++) this.add(i);
  }

  has(index: number): boolean {
    return ((this.bits[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }

  toSortedArray(): Uint32Array {
    let count = 0;
    for (const byte of this.bits) {
      let b = byte;
      while (b) {
        b &= b - 1;
        count++;
      }
    }
    const out = new Uint32Array(count);
    let k = 0;
    for (let i = 0; i < this.bits.length; i++) {
      const byte = this.bits[i]!;
      if (byte === 0) continue; // a sparse disk is mostly empty bytes
      for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) out[k++] = i * 8 + bit;
    }
    return out;
  }
}

export function assertConvertibleSize(size: number, what: string): void {
  if (size > MAX_VIRTUAL_SIZE) {
    throw new DiskFormatUnsupportedError(
      `${what}: virtual size ${Number.isFinite(size) ? formatBytes(size) : 'of more than 2^53 bytes'} exceeds the VHD maximum of ${MAX_VIRTUAL_SIZE / 2 ** 30} GiB`,
      { virtualSize: size, max: MAX_VIRTUAL_SIZE },
    );
  }
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new DiskFormatUnsupportedError(`${what}: virtual size ${size} is not a positive byte count`, {
      virtualSize: size,
    });
  }
}

export function assertBlockIndex(reader: { virtualSize: number }, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index * BLOCK_SIZE >= reader.virtualSize) {
    throw new RangeError(`block ${index} is outside the disk`);
  }
}
