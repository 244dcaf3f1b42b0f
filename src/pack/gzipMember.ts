// Reads exactly one gzip member from a stream: parses the header itself, inflates the raw deflate body with
// zlib, then checks the trailer (CRC32, ISIZE) and that nothing follows. Python's `tarfile` mode `r|gz`
// fails on a second member, so a second member is an error here too (Node's own gunzip would accept it).
import { Transform, type TransformCallback } from 'node:stream';
import { crc32, createInflateRaw, type InflateRaw } from 'node:zlib';
import { ImageInvalidError } from '../disk/errors.js';

const MAX_HEADER = 64 * 1024;

/** Strips the gzip header and counts/keeps what it needs to check the trailer afterwards. */
class GzipHeaderStripper extends Transform {
  headerLength = -1;
  total = 0;
  last8 = Buffer.alloc(0);
  private head = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    this.last8 = Buffer.concat([this.last8, chunk.subarray(-8)]).subarray(-8);
    if (this.headerLength >= 0) return callback(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    let length: number | undefined;
    try {
      length = parseHeaderLength(this.head);
    } catch (err) {
      return callback(err as Error);
    }
    if (length === undefined) {
      if (this.head.length > MAX_HEADER) return callback(new ImageInvalidError('gzip header too long or corrupt'));
      return callback();
    }
    this.headerLength = length;
    const body = this.head.subarray(length);
    this.head = Buffer.alloc(0);
    callback(null, body);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.headerLength < 0 ? new ImageInvalidError('not gzip data (no complete gzip header)') : null);
  }
}

/** Header length, or undefined while incomplete; throws on a non-gzip header. */
function parseHeaderLength(b: Buffer): number | undefined {
  if (b.length < 10) return undefined;
  if (b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) throw new ImageInvalidError('not gzip data (bad magic or method)');
  const flags = b[3]!;
  let pos = 10;
  if (flags & 4) {
    if (b.length < pos + 2) return undefined;
    pos += 2 + b.readUInt16LE(pos);
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const end = b.indexOf(0, pos);
      if (end < 0) return undefined;
      pos = end + 1;
    }
  }
  if (flags & 2) pos += 2;
  return b.length >= pos ? pos : undefined;
}

/** Counts and CRCs the inflated bytes. */
class CrcCounter extends Transform {
  crc = 0;
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    callback(null, chunk);
  }
}

export interface SingleMemberGunzip {
  /** Write the compressed bytes here. */
  input: Transform;
  /** Read the inflated bytes here. */
  output: Transform;
  inflate: InflateRaw;
  /** Call after everything is consumed: throws unless exactly one member with a valid trailer was read. */
  check(): void;
}

export function singleMemberGunzip(): SingleMemberGunzip {
  const input = new GzipHeaderStripper();
  const inflate = createInflateRaw();
  const output = new CrcCounter();
  return {
    input,
    output,
    inflate,
    check() {
      const expected = input.headerLength + inflate.bytesWritten + 8;
      if (input.total < expected) throw new ImageInvalidError('gzip stream truncated (no complete trailer)');
      if (input.total > expected) {
        throw new ImageInvalidError(
          `gzip stream holds more than one member or trailing data (${input.total - expected} bytes after the first member)`,
        );
      }
      if (input.last8.readUInt32LE(0) !== output.crc >>> 0) throw new ImageInvalidError('gzip CRC32 mismatch');
      if (input.last8.readUInt32LE(4) !== output.size % 2 ** 32) throw new ImageInvalidError('gzip ISIZE mismatch');
    },
  };
}
