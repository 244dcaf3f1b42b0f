// One gzip member compressed on several cores with worker threads, the way pigz does it: the input is cut into
// chunks, each chunk is raw-deflated with the previous 32 KiB as dictionary and ends with a sync flush (the
// last with the final block), and the pieces are concatenated under one gzip header and one CRC32/ISIZE
// trailer. The output depends only on the input, the level and the chunk size (never on thread timing).
// Decision: docs/decisions/disk-0003-parallel-gzip.md.
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import type { DeflateJob, DeflateResult } from './deflateWorker.js';

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

export class ParallelGzip extends Transform {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: DeflateJob[] = [];
  private readonly done = new Map<number, Uint8Array>();
  private readonly chunkSize: number;
  private readonly maxInFlight: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private dictionary: Uint8Array = new Uint8Array(0);
  private nextSeq = 0;
  private nextOut = 0;
  private crc = 0;
  private size = 0;
  private headerSent = false;
  private waitingWrite: TransformCallback | undefined;
  private waitingFlush: TransformCallback | undefined;

  constructor(private readonly options: ParallelGzipOptions) {
    super({ highWaterMark: 4 * (options.chunkSize ?? DEFAULT_CHUNK) });
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    this.maxInFlight = options.threads * 2;
    for (let i = 0; i < options.threads; i++) {
      const worker = new Worker(new URL('./deflateWorker.js', import.meta.url));
      worker.on('message', (msg: DeflateResult) => this.onResult(worker, msg));
      worker.on('error', (err) => this.destroy(err));
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  private inFlight(): number {
    return this.nextSeq - this.nextOut;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (!this.headerSent) {
      this.push(gzipHeader(this.options.level));
      this.headerSent = true;
    }
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.chunkSize) this.submit(this.takeBytes(this.chunkSize), false);
    if (this.inFlight() < this.maxInFlight) callback();
    else this.waitingWrite = callback; // released by onResult: bounded memory, backpressure upstream
  }

  override _flush(callback: TransformCallback): void {
    if (!this.headerSent) {
      this.push(gzipHeader(this.options.level));
      this.headerSent = true;
    }
    this.submit(this.takeBytes(this.pendingBytes), true);
    this.waitingFlush = callback;
  }

  private takeBytes(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }

  private submit(data: Buffer, final: boolean): void {
    const job: DeflateJob = { seq: this.nextSeq++, data, dictionary: this.dictionary, level: this.options.level, final };
    // The next chunk's dictionary: the last 32 KiB of input so far (copied: `data` may be a view of a reused buffer).
    const tail = data.length >= WINDOW ? data.subarray(data.length - WINDOW) : Buffer.concat([this.dictionary, data]).subarray(-WINDOW);
    this.dictionary = Uint8Array.prototype.slice.call(tail);
    this.queue.push(job);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) this.idle.pop()!.postMessage(this.queue.shift()!);
  }

  private onResult(worker: Worker, msg: DeflateResult): void {
    if (this.destroyed) return;
    this.idle.push(worker);
    if (msg.error !== undefined) {
      this.destroy(new Error(`deflate failed: ${msg.error}`));
      return;
    }
    this.done.set(msg.seq, msg.data!);
    while (this.done.has(this.nextOut)) {
      const data = this.done.get(this.nextOut)!;
      this.done.delete(this.nextOut++);
      this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
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
      void this.stopWorkers().then(() => cb(), cb);
    }
  }

  private async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.stopWorkers().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
