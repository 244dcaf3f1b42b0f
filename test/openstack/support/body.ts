// Upload bodies for tests: bytes in chunks (optionally slow, optionally failing midway) with the MD5/SHA-512 and
// count the producer reports, as the pack stage will.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UploadBody } from '../../../src/openstack/index.js';

export interface BodyOptions {
  chunkSize?: number;
  /** Pause between chunks. */
  delayMs?: number;
  /** Throw after this many bytes. */
  failAfter?: number;
  /** Called when the body is started (each call of the factory). */
  onStart?: (attempt: number) => Promise<void> | void;
}

export interface BodyFactory {
  (): UploadBody;
  /** How often the factory was called (a restart after a 401 calls it again). */
  calls: number;
  /** Bytes produced by the last call so far. */
  produced: number;
}

export function bufferBody(data: Buffer, options: BodyOptions = {}): BodyFactory {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const factory = (() => {
    factory.calls += 1;
    const attempt = factory.calls;
    factory.produced = 0;
    const md5 = createHash('md5');
    const sha512 = createHash('sha512');
    let settle!: {
      resolve: (v: { tgzBytes: number; md5: string; sha512: string }) => void;
      reject: (e: unknown) => void;
    };
    const result = new Promise<{ tgzBytes: number; md5: string; sha512: string }>(
      (resolve, reject) => (settle = { resolve, reject }),
    );
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        await options.onStart?.(attempt);
        for (let off = 0; off < data.length; off += chunkSize) {
          if (options.failAfter !== undefined && off >= options.failAfter) throw new Error('simulated source failure');
          const chunk = data.subarray(off, Math.min(off + chunkSize, data.length));
          md5.update(chunk);
          sha512.update(chunk);
          factory.produced += chunk.length;
          yield chunk;
          if (options.delayMs) await sleep(options.delayMs);
        }
        settle.resolve({ tgzBytes: factory.produced, md5: md5.digest('hex'), sha512: sha512.digest('hex') });
      } catch (err) {
        settle.reject(err);
        throw err;
      }
    }
    return { stream: Readable.from(chunks(), { objectMode: false }), result };
  }) as BodyFactory;
  factory.calls = 0;
  factory.produced = 0;
  return factory;
}
