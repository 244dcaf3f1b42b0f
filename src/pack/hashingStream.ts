// Counts and hashes (MD5, SHA-512) the bytes that pass, without holding them.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Digests {
  bytes: number;
  md5: string;
  sha512: string;
}

export class HashingStream extends Transform {
  private readonly md5: Hash = createHash('md5');
  private readonly sha512: Hash = createHash('sha512');
  private bytes = 0;
  /** Resolves with the digests once the last byte has passed. */
  readonly digests: Promise<Digests>;
  private resolveDigests!: (d: Digests) => void;

  constructor(private readonly onBytes?: (total: number) => void) {
    super();
    this.digests = new Promise((resolve) => (this.resolveDigests = resolve));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.md5.update(chunk);
    this.sha512.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.resolveDigests({ bytes: this.bytes, md5: this.md5.digest('hex'), sha512: this.sha512.digest('hex') });
    callback();
  }
}
