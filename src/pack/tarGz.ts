// tar (one regular file) → one gzip member → MD5 + SHA-512 of the compressed bytes, as one backpressured
// stream. The image pipeline feeds it a tap VHD; tests and benchmarks can feed any stream of known size.
import { pipeline, type Readable } from 'node:stream';
import { createCompressor, compressionLevel, type CompressorKind } from './compressor.js';
import { HashingStream } from './hashingStream.js';
import { ParallelGzip } from './parallelGzip.js';
import { PigzGzip } from './pigzGzip.js';
import { tarSingleFile } from './tarSingleFile.js';

export interface TarGzOptions {
  /** gzip level 1..9 (default 6). */
  level?: number;
  compressor?: CompressorKind;
  threads?: number;
  signal?: AbortSignal;
  /** Entry mtime (default: now, whole seconds). */
  mtime?: Date;
  /** Content bytes consumed so far, and compressed bytes produced so far; called every chunk. */
  onBytes?: (contentBytes: number, compressedBytes: number) => void;
  /**
   * Called with a content offset below which the compressor keeps no reference to the content's buffers (the
   * 'threads' and 'pigz' engines report it), so a buffer pool can reuse them.
   */
  onContentReleased?: (contentOffset: number) => void;
}

/** Bytes of tar framing before the content (one 512-byte header), plus a safety margin. */
const CONTENT_OFFSET_SLACK = 1024;

export interface TarGzResult {
  tgzBytes: number;
  md5: string;
  sha512: string;
  compressor: CompressorKind;
  mtime: Date;
}

export function tarGz(
  name: string,
  content: Readable,
  size: number,
  options: TarGzOptions = {},
): { stream: Readable; result: Promise<TarGzResult> } {
  const level = compressionLevel(options.level);
  const mtime = options.mtime ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const { stream: gzip, kind } = createCompressor({ level, kind: options.compressor, threads: options.threads });
  if ((gzip instanceof ParallelGzip || gzip instanceof PigzGzip) && options.onContentReleased) {
    const report = options.onContentReleased;
    gzip.onReleased = (inputBytes) => report(inputBytes - CONTENT_OFFSET_SLACK);
  }
  let contentBytes = 0;
  let compressedBytes = 0;
  const archive = tarSingleFile({ name, size, mtime }, content, (n) => {
    contentBytes = n;
    options.onBytes?.(contentBytes, compressedBytes);
  });
  const hasher = new HashingStream((n) => {
    compressedBytes = n;
    options.onBytes?.(contentBytes, compressedBytes);
  });
  const done = new Promise<void>((resolve, reject) => {
    pipeline(archive, gzip, hasher, (err) => (err ? reject(err) : resolve()));
  });
  const { signal } = options;
  if (signal) {
    const onAbort = () => hasher.destroy(signal.reason as Error);
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      hasher.once('close', () => signal.removeEventListener('abort', onAbort));
    }
  }
  const result = Promise.all([done, hasher.digests]).then(([, d]) => ({
    tgzBytes: d.bytes,
    md5: d.md5,
    sha512: d.sha512,
    compressor: kind,
    mtime,
  }));
  result.catch(() => undefined); // read by whoever awaits it; the stream reports the error too
  return { stream: hasher, result };
}
