// Exact-length reads from a byte stream (pull-based, so the producer is only read as fast as we consume).
import type { Readable } from 'node:stream';
import { DiskCorruptError, DiskSourceError } from './errors.js';

export class StreamBytes {
  private readonly iterator: AsyncIterator<Buffer>;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private ended = false;
  /** Bytes consumed so far (the stream offset of the next byte read). */
  position = 0;

  /**
   * `endIsTransient`: a stream that ends early is a dropped connection (retryable), not a corrupt image — true
   * for network streams without a length, such as XAPI exports.
   */
  constructor(
    input: Readable | AsyncIterable<Buffer>,
    private readonly what: string,
    private readonly endIsTransient = false,
  ) {
    this.iterator = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.bufferedBytes < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.buffered.push(next.value);
        this.bufferedBytes += next.value.length;
      }
    }
    return this.bufferedBytes >= n;
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    this.position += n;
    return out;
  }

  /** Exactly `n` bytes; a stream that ends first is truncated. */
  async read(n: number, item: string): Promise<Buffer> {
    if (!(await this.fill(n))) {
      if (this.endIsTransient) {
        throw new DiskSourceError(
          'DiskSourceUnavailable',
          `${this.what}: stream ended at byte ${this.position + this.bufferedBytes} while reading ${item} (connection dropped or truncated)`,
          {
            retryable: true,
            details: { position: this.position + this.bufferedBytes },
          },
        );
      }
      throw new DiskCorruptError(
        `${this.what}: stream ended at byte ${this.position + this.bufferedBytes} while reading ${item} (truncated)`,
        {
          position: this.position + this.bufferedBytes,
        },
      );
    }
    return this.take(n);
  }

  /**
   * Fills `target` exactly, copying each arriving piece into it (no concatenated copy of what is buffered): the
   * way to read a block into a pooled buffer. A stream that ends first is truncated, as for `read`.
   */
  async readInto(target: Buffer, item: string): Promise<void> {
    let filled = 0;
    while (filled < target.length) {
      if (this.bufferedBytes === 0 && !(await this.fill(1))) {
        this.position += filled;
        await this.read(target.length - filled, item); // throws the typed "ended early" error
      }
      const piece = this.buffered[0]!;
      const take = Math.min(piece.length, target.length - filled);
      piece.copy(target, filled, 0, take);
      filled += take;
      this.bufferedBytes -= take;
      if (take === piece.length) this.buffered.shift();
      else this.buffered[0] = piece.subarray(take);
    }
    this.position += filled;
  }

  async skip(n: number, item: string): Promise<void> {
    let left = n;
    while (left > 0) {
      const step = Math.min(left, 4 * 1024 * 1024);
      await this.read(step, item);
      left -= step;
    }
  }

  /** Consumes the rest of the stream, returning its last `keep` bytes and how many bytes were left. */
  async readTail(keep: number): Promise<{ tail: Buffer; length: number }> {
    let length = 0;
    let tail = Buffer.alloc(0);
    for (;;) {
      if (this.bufferedBytes === 0 && !(await this.fill(1))) break;
      const chunk = this.take(this.bufferedBytes);
      length += chunk.length;
      tail = Buffer.concat([tail, chunk]).subarray(-keep);
    }
    return { tail: Buffer.from(tail), length };
  }

  /** Stops reading (the source stream is destroyed). Not awaited: some iterators settle only once drained. */
  async close(): Promise<void> {
    this.buffered = [];
    this.bufferedBytes = 0;
    void Promise.resolve(this.iterator.return?.()).catch(() => undefined);
  }
}
