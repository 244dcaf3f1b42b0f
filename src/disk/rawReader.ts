// Raw images: the file is the disk. Which 2 MiB blocks hold data comes from the file's holes when the source
// can tell (a local file, through `qemu-img map`); otherwise every block counts as allocated.
import { BLOCK_SIZE, blockCountFor } from './geometry.js';
import { BlockSet, assertBlockIndex, assertConvertibleSize, type DiskReader } from './reader.js';
import type { ByteSource } from './source.js';

export class RawReader implements DiskReader {
  readonly format = 'raw' as const;

  private constructor(
    private readonly source: ByteSource,
    readonly virtualSize: number,
    readonly allocatedBlocks: Uint32Array,
  ) {}

  /** `dataExtents`: byte ranges [start, end) that hold data; undefined means "all of it". */
  static open(source: ByteSource, dataExtents?: Array<[number, number]>): RawReader {
    assertConvertibleSize(source.size, source.description);
    const blocks = new BlockSet(blockCountFor(source.size));
    for (const [start, end] of dataExtents ?? [[0, source.size]]) blocks.addRange(start, Math.min(end, source.size));
    return new RawReader(source, source.size, blocks.toSortedArray());
  }

  async readBlock(index: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    assertBlockIndex(this, index);
    const start = index * BLOCK_SIZE;
    const length = Math.min(BLOCK_SIZE, this.virtualSize - start);
    const out = into ?? Buffer.allocUnsafe(BLOCK_SIZE);
    if (length < BLOCK_SIZE) out.fill(0, length);
    await this.source.read(out.subarray(0, length), start, signal);
    return out;
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}
