// Positional byte sources: what every disk reader reads from. A source knows its size and fills a buffer from
// a position; reading past its end is a typed "truncated" error, never a short read the caller must notice.
import { DiskCorruptError } from './errors.js';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Where the bytes come from, safe for messages (no credentials, no query string). */
  readonly description: string;
  /** Fills `buffer` with the bytes at `position`. Throws DiskCorrupt when the source ends before. */
  read(buffer: Buffer, position: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export function assertWithin(source: ByteSource, position: number, length: number, what: string): void {
  if (!Number.isSafeInteger(position) || position < 0 || position + length > source.size) {
    throw new DiskCorruptError(
      `${source.description}: ${what} at byte ${position} (+${length}) lies beyond the end of the file (${source.size} bytes); the file is truncated or corrupt`,
      { position, length, size: source.size },
    );
  }
}

/** Reads `length` bytes at `position` into a new buffer. */
export async function readAt(
  source: ByteSource,
  position: number,
  length: number,
  what: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  assertWithin(source, position, length, what);
  const buf = Buffer.allocUnsafe(length);
  await source.read(buf, position, signal);
  return buf;
}
