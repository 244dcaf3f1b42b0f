// Installers for the answer media (PV tools, cloudbase-init): copied from a path or downloaded from a URL,
// hashed while they stream, and refused unless their SHA-256 is the pinned one.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InstallerSourceSchema, type InstallerSource } from '../contracts/installerSource.js';
import { XenimageError } from '../errors.js';

/** The project's installer source (a worker-host path or a URL, pinned by SHA-256). */
export const ArtifactSchema = InstallerSourceSchema;

export type Artifact = InstallerSource;

export class ArtifactChecksumMismatch extends XenimageError {
  constructor(source: string, expected: string, actual: string) {
    super('ArtifactChecksumMismatch', `${source} has SHA-256 ${actual}, expected ${expected}: refusing to use it`, {
      retryable: false,
      details: { source, expected, actual },
    });
  }
}

/** Copies or downloads `a` to `dest`, verifying its SHA-256; the file is removed when anything fails. */
export async function fetchArtifact(
  a: Artifact,
  dest: string,
  signal?: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const source = 'path' in a ? a.path : a.url;
  try {
    let input: Readable;
    if ('path' in a) {
      input = createReadStream(a.path);
    } else {
      let res: Response;
      try {
        res = await fetch(a.url, { signal });
      } catch (err) {
        throw new XenimageError('ArtifactDownloadFailed', `download of ${source} failed: ${(err as Error).message}`, {
          retryable: true,
          cause: err,
        });
      }
      if (!res.ok || !res.body) {
        throw new XenimageError('ArtifactDownloadFailed', `download of ${source} failed: HTTP ${res.status}`, {
          retryable: res.status >= 500 || res.status === 429,
          details: { status: res.status },
        });
      }
      input = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    }
    await pipeline(input, hasher, createWriteStream(dest, { mode: 0o600 }), { signal });
  } catch (err) {
    await rm(dest, { force: true });
    if (err instanceof XenimageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new XenimageError('InvalidInput', `installer ${source} does not exist`, { retryable: false });
    throw err;
  }
  const actual = hash.digest('hex');
  if (actual !== a.sha256.toLowerCase()) {
    await rm(dest, { force: true });
    throw new ArtifactChecksumMismatch(source, a.sha256.toLowerCase(), actual);
  }
  return { bytes, sha256: actual };
}
