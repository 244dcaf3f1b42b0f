// One gzip member compressed on several cores, the way pigz does it: the input is cut into chunks, each chunk
// is raw-deflated with the previous 32 KiB as dictionary and ends with a sync flush (the last with the final
// block), and the pieces are concatenated under one gzip header and one CRC32/ISIZE trailer. The chunks are
// deflated by zlib's asynchronous API, which runs on libuv's thread pool: several cores, no worker isolates
// (each would cost its own heap). The output depends only on the input, the level and the chunk size, never
// on timing or thread count. Decision: docs/decisions/disk-0003-parallel-gzip.md.
import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, createDeflateRaw } from 'node:zlib';

const WINDOW = 32 * 1024;
export const DEFAULT_CHUNK = 1024 * 1024;

export interface ParallelGzipOptions {
  level: number;
  threads: number;
  chunkSize?: number;
}

export function gzipHeader(level: number): Buffer {
  // mtime 0 and no name: the same input always gives the same bytes. XFL as zlib sets it; OS 3 (Unix).
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

interface Job {
  seq: number;
  data: Buffer;
  dictionary: Buffer;
  final: boolean;
  /** Input bytes up to the end of this job. */
  end: number;
  /** The job's data was copied into this pooled buffer (returned when the job is done). */
  staging?: Buffer;
}

export class ParallelGzip extends Transform {
  private readonly queue: Job[] = [];
  private readonly done = new Map<number, Buffer[]>();
  private readonly chunkSize: number;
  private readonly maxInFlight: number;
  private readonly concurrency: number;
  private running = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private dictionary: Buffer = Buffer.alloc(0);
  private nextSeq = 0;
  private nextOut = 0;
  private crc = 0;
  private size = 0;
  private headerSent = false;
  private waitingWrite: TransformCallback | undefined;
  private waitingFlush: TransformCallback | undefined;
  private submitted = 0;
  /** Compressed bytes seen so far (sizes the next output buffer). */
  private outputSeen = 0;
  private readonly jobEnds = new Map<number, number>();
  /** Buffers for chunks that straddle input pieces (reused: no garbage per chunk). */
  private readonly staging: Buffer[] = [];
  private stagingUsed: Buffer | undefined;
  /**
   * Called with the count of input bytes this stream no longer references (their deflate finished; the
   * dictionary is a copy), so an upstream buffer pool can reuse them.
   */
  onReleased: ((inputBytes: number) => void) | undefined;

  constructor(private readonly options: ParallelGzipOptions) {
    super({ highWaterMark: 2 * (options.chunkSize ?? DEFAULT_CHUNK) });
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    // One deflate more than threads: while the main thread handles a finished piece (hashing, tar), the pool
    // still has work on every core (measured: 2 threads → 65 MB/s, 3 concurrent deflates → 80 MB/s).
    this.concurrency = options.threads + 1;
    this.maxInFlight = this.concurrency + 1;
  }

  private inFlight(): number {
    return this.nextSeq - this.nextOut;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.sendHeader();
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.chunkSize) this.submit(this.takeBytes(this.chunkSize), false);
    if (this.inFlight() < this.maxInFlight) callback();
    else this.waitingWrite = callback; // released when a chunk is done: bounded memory, backpressure upstream
  }

  override _flush(callback: TransformCallback): void {
    this.sendHeader();
    this.submit(this.takeBytes(this.pendingBytes), true);
    this.waitingFlush = callback;
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.push(gzipHeader(this.options.level));
    this.headerSent = true;
  }

  /** The first `n` pending bytes: a view when one piece holds them, else a copy into a pooled staging buffer. */
  private takeBytes(n: number): Buffer {
    const first = this.pending[0];
    let out: Buffer;
    this.stagingUsed = undefined;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
    } else {
      const staging = this.staging.pop() ?? Buffer.allocUnsafe(this.chunkSize);
      this.stagingUsed = staging;
      out = staging.subarray(0, n);
      let filled = 0;
      while (filled < n) {
        const piece = this.pending[0]!;
        const take = Math.min(piece.length, n - filled);
        piece.copy(out, filled, 0, take);
        filled += take;
        if (take === piece.length) this.pending.shift();
        else this.pending[0] = piece.subarray(take);
      }
    }
    this.pendingBytes -= n;
    return out;
  }

  /**
   * The output buffer of the next deflate, sized after what recent chunks compressed to. Incompressible data gets
   * one buffer per chunk (one thread-pool round trip: +10–15 % throughput over 256 KiB pieces); compressible data
   * small ones (a fixed 256 KiB buffer per chunk was most of the pipeline's garbage). It only changes where the
   * output is cut into pieces, never its bytes.
   */
  private outputBufferSize(): number {
    const chunks = Math.max(1, this.submitted / this.chunkSize);
    const expected = this.outputSeen / chunks;
    const bound = this.chunkSize + (this.chunkSize >> 8) + 4096; // deflate's worst case for one chunk, with room
    return Math.min(bound, Math.max(16 * 1024, Math.ceil((expected * 1.25) / 4096) * 4096));
  }

  private submit(data: Buffer, final: boolean): void {
    this.submitted += data.length;
    const job: Job = {
      seq: this.nextSeq++,
      data,
      dictionary: this.dictionary,
      final,
      end: this.submitted,
      staging: this.stagingUsed,
    };
    this.stagingUsed = undefined;
    this.jobEnds.set(job.seq, job.end);
    // The next chunk's dictionary: the last 32 KiB of input so far (copied: `data` may view a buffer reused upstream).
    const tail =
      data.length >= WINDOW
        ? data.subarray(data.length - WINDOW)
        : Buffer.concat([this.dictionary, data]).subarray(-WINDOW);
    this.dictionary = Buffer.from(tail);
    this.queue.push(job);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      // A deflate stream per chunk (not the one-shot helper): its output pieces go downstream as they are,
      // without the helper's final concatenation (less garbage, lower peak RSS).
      const engine = createDeflateRaw({
        level: this.options.level,
        ...(job.dictionary.length > 0 ? { dictionary: job.dictionary } : {}),
        finishFlush: job.final ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        chunkSize: this.outputBufferSize(),
      });
      const pieces: Buffer[] = [];
      engine.on('data', (piece: Buffer) => {
        pieces.push(piece);
        this.outputSeen += piece.length;
      });
      engine.once('error', (err) => this.finishJob(job, err, pieces));
      engine.once('end', () => this.finishJob(job, null, pieces));
      engine.end(job.data);
    }
  }

  private finishJob(job: Job, err: Error | null, pieces: Buffer[]): void {
    if (job.staging && job.staging.length === this.chunkSize) this.staging.push(job.staging);
    this.onResult(job.seq, err, pieces);
  }

  private onResult(seq: number, err: Error | null, out: Buffer[]): void {
    this.running--;
    if (this.destroyed) return;
    if (err) {
      this.destroy(err);
      return;
    }
    this.done.set(seq, out);
    let released = -1;
    while (this.done.has(this.nextOut)) {
      const pieces = this.done.get(this.nextOut)!;
      this.done.delete(this.nextOut);
      released = this.jobEnds.get(this.nextOut)!;
      this.jobEnds.delete(this.nextOut++);
      for (const piece of pieces) this.push(piece);
    }
    if (released >= 0) this.onReleased?.(released);
    this.dispatch();
    if (this.waitingWrite && this.inFlight() < this.maxInFlight) {
      const cb = this.waitingWrite;
      this.waitingWrite = undefined;
      cb();
    }
    if (this.waitingFlush && this.inFlight() === 0) {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.size % 2 ** 32, 4);
      this.push(trailer);
      const cb = this.waitingFlush;
      this.waitingFlush = undefined;
      cb();
    }
  }
}
