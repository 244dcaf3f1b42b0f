// Installers for the answer media (PV tools, cloudbase-init): copied from a path or downloaded from a URL,
// hashed while they stream, capped in size, and refused unless their SHA-256 is the pinned one. A mismatch never
// says what the file's hash is (that would make any readable file or reachable URL an oracle).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InstallerSourceSchema, type InstallerSource } from '../contracts/installerSource.js';
import { XenimageError } from '../errors.js';
import { displayUrl } from '../inputs/network.js';

/** The project's installer source (a worker-host path or a URL, pinned by SHA-256). */
export const ArtifactSchema = InstallerSourceSchema;

export type Artifact = InstallerSource;

export interface ArtifactFetchOptions {
  /** The fetch for URLs (the input policy's guarded fetch); default: the global fetch. */
  fetch?: (url: string, init: { signal?: AbortSignal }) => Promise<Response | import('undici').Response>;
  /** The largest installer accepted (bytes); default 2 GiB. */
  maxBytes?: number;
}

export class ArtifactChecksumMismatch extends XenimageError {
  constructor(source: string, expected: string) {
    super('ArtifactChecksumMismatch', `${source} does not match its pinned SHA-256 ${expected}: refusing to use it`, {
      retryable: false,
      details: { source, expected },
    });
  }
}

function describe(a: Artifact): string {
  if ('path' in a) return a.path;
  try {
    return displayUrl(new URL(a.url));
  } catch {
    return 'installer URL';
  }
}

/** Copies or downloads `a` to `dest`, verifying its SHA-256; the file is removed when anything fails. */
export async function fetchArtifact(
  a: Artifact,
  dest: string,
  signal?: AbortSignal,
  options: ArtifactFetchOptions = {},
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const maxBytes = options.maxBytes ?? 2 * 2 ** 30;
  const source = describe(a);
  const tooLarge = () =>
    new XenimageError('ArtifactTooLarge', `${source} is larger than the installer limit (${maxBytes} bytes)`, {
      retryable: false,
      details: { limit: maxBytes },
    });
  let bytes = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) return cb(tooLarge());
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    let input: Readable;
    if ('path' in a) {
      input = createReadStream(a.path);
    } else {
      let res: Response | import('undici').Response;
      try {
        res = await (options.fetch ?? fetch)(a.url, { signal });
      } catch (err) {
        if (err instanceof XenimageError) throw err; // the input policy's refusal, typed as it is
        throw new XenimageError('ArtifactDownloadFailed', `download of ${source} failed: ${(err as Error).message}`, {
          retryable: true,
          cause: err,
        });
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new XenimageError('ArtifactDownloadFailed', `download of ${source} failed: HTTP ${res.status}`, {
          retryable: res.status >= 500 || res.status === 429,
          details: { status: res.status },
        });
      }
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > maxBytes) {
        await res.body.cancel().catch(() => undefined);
        throw tooLarge();
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
    throw new ArtifactChecksumMismatch(source, a.sha256.toLowerCase());
  }
  return { bytes, sha256: actual };
}
