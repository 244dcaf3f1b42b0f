// Verification of a packed image as Glance holds it: one gzip member, a tar with exactly one regular entry
// `0.vhd`, and that entry a valid tap VHD of the expected virtual size. Streaming, bounded memory; the lead's
// `verifyImage` activity feeds it the download.
import { once } from 'node:events';
import { pipeline, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { ImageInvalidError } from '../disk/errors.js';
import { verifyTapVhd, type VhdReport } from '../disk/vhdVerifier.js';
import { singleMemberGunzip } from './gzipMember.js';
import { HashingStream } from './hashingStream.js';
import { VHD_ENTRY_NAME } from './pipeline.js';

export interface TgzReport {
  tgzBytes: number;
  md5: string;
  sha512: string;
  gzipMembers: 1;
  entry: { name: string; size: number; mtime?: string };
  vhd: VhdReport;
}

export async function verifyTgz(
  input: Readable,
  options: { expectedVirtualSize?: number; signal?: AbortSignal } = {},
): Promise<TgzReport> {
  options.signal?.throwIfAborted();
  const hasher = new HashingStream();
  const gunzip = singleMemberGunzip();
  const extract = tar.extract();
  let entries = 0;
  let vhd: Promise<VhdReport> | undefined;
  let entryInfo: TgzReport['entry'] | undefined;

  // The first failure anywhere (tar, gzip, VHD check, abort) ends everything; streamx does not always re-emit it.
  let firstError: Error | undefined;
  let failWith!: (err: Error) => void;
  const failure = new Promise<never>((_, reject) => (failWith = reject));
  failure.catch(() => undefined);
  const inflated = pipeline(input, hasher, gunzip.input, gunzip.inflate, gunzip.output, () => undefined);
  const fatal = (err: unknown) => {
    if (firstError) return;
    firstError = wrap(err);
    failWith(firstError);
    inflated.destroy();
    extract.destroy();
  };

  extract.on('entry', (header, stream, next) => {
    stream.on('error', () => undefined); // its errors reach us through the VHD check
    entries++;
    if (entries > 1)
      return fatal(new ImageInvalidError(`the archive holds more than one entry (second: '${header.name}')`));
    if (header.name !== VHD_ENTRY_NAME || header.type !== 'file') {
      return fatal(
        new ImageInvalidError(
          `the archive's entry is '${header.name}' (${header.type}), a regular file '${VHD_ENTRY_NAME}' is expected`,
        ),
      );
    }
    entryInfo = { name: header.name, size: header.size ?? 0, mtime: header.mtime?.toISOString() };
    vhd = verifyTapVhd(stream as AsyncIterable<Buffer>, header.size ?? 0, {
      expectedVirtualSize: options.expectedVirtualSize,
    });
    vhd.then(() => next(), fatal);
  });
  extract.on('error', fatal);
  inflated.on('error', fatal);
  const finished = new Promise<void>((resolve) => extract.once('finish', resolve));
  const onAbort = () => fatal(options.signal!.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of inflated as AsyncIterable<Buffer>) {
      if (!extract.write(chunk)) await Promise.race([once(extract, 'drain'), failure]);
    }
    (extract as NodeJS.WritableStream).end();
    await Promise.race([finished, failure]);
    if (entries === 0 || !vhd || !entryInfo) throw new ImageInvalidError('the archive holds no entry');
    const report = await vhd;
    gunzip.check(); // exactly one gzip member, trailer matches
    const digests = await hasher.digests;
    return {
      tgzBytes: digests.bytes,
      md5: digests.md5,
      sha512: digests.sha512,
      gzipMembers: 1,
      entry: entryInfo,
      vhd: report,
    };
  } catch (err) {
    fatal(err);
    throw firstError ?? wrap(err);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function wrap(err: unknown): Error {
  if (err instanceof ImageInvalidError || (err as Error).name === 'AbortError') return err as Error;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code.startsWith('Z_') || /tar|header|gzip|invalid|unexpected end/i.test((err as Error).message)) {
    return new ImageInvalidError(`the image is not a valid .tgz: ${(err as Error).message}`);
  }
  return err as Error;
}
