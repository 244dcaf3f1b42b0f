// Reusable 2 MiB block buffers for streams whose last consumer reports how far it has read. A buffer handed
// downstream is registered with the stream offset where it ends; once the consumer reports that offset as
// released (it keeps no reference to those bytes), the buffer is reused instead of becoming garbage. Without
// reports the pool simply allocates (never reuses too early). Measured effect: bench/ peak RSS.
import { BLOCK_SIZE } from './geometry.js';

export class BlockPool {
  private readonly free: Buffer[] = [];
  /** Buffers allocated so far (the rest of the acquisitions were reuses). */
  allocated = 0;
  private readonly lent: Array<{ buffer: Buffer; end: number }> = [];

  /** `maxLent`: buffers tracked downstream at most; older ones are forgotten (left to the GC), never reused. */
  constructor(
    private readonly maxFree = 8,
    private readonly maxLent = 32,
  ) {}

  acquire(): Buffer {
    const reused = this.free.pop();
    if (reused) return reused;
    this.allocated++;
    return Buffer.allocUnsafe(BLOCK_SIZE);
  }

  /** `buffer` now travels downstream and is no longer referenced after stream offset `end`. */
  lend(buffer: Buffer, end: number): void {
    this.lent.push({ buffer, end });
    if (this.lent.length > this.maxLent) this.lent.shift(); // a consumer that never reports must not leak
  }

  get lentCount(): number {
    return this.lent.length;
  }

  /** Returns a buffer that was acquired but never handed downstream. */
  giveBack(buffer: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(buffer);
  }

  /** The consumer holds no byte before stream offset `offset` any more. */
  releaseUpTo(offset: number): void {
    while (this.lent.length > 0 && this.lent[0]!.end <= offset) this.giveBack(this.lent.shift()!.buffer);
  }
}
