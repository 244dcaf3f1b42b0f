// The idempotent upload the workflows use: at most one image per build (found again by its build tag), the
// body streamed with backpressure, the result verified against what was sent, and every failure or abort
// cleaned up (the half-made image is deleted) before a typed error is rethrown.
import { createHash, getHashes, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { XenimageError, errorMessage, isXenimageError, InvalidInputError, TransferStalledError } from '../errors.js';
import { log, type Logger } from '../log.js';
import type { OpenStackCloud } from './cloud.js';
import { GlanceError } from './errors.js';
import { byCreation, claimAndSettle, removeImage } from './attemptClaims.js';
import type { GlanceImage } from './glance.js';
import { buildTag, toCreateRequest, type PublishSpec } from './publishSpec.js';
import { verifyUploadedImage } from './uploadVerification.js';

export interface BodyResult {
  tgzBytes: number;
  md5: string;
  sha512: string;
  /** Further digests by Glance algorithm name, for clouds whose os_hash_algo is not sha512. */
  hashes?: Record<string, string>;
}

export interface UploadBody {
  stream: Readable;
  /** Resolves once the stream has ended, with what the producer counted and hashed. */
  result: Promise<BodyResult>;
}

export interface PublishOptions {
  signal?: AbortSignal;
  /** What an earlier attempt reported (e.g. from heartbeat details): prefer the image that matches it. */
  previous?: {
    imageId?: string;
    size?: number;
    checksum?: string;
    /** This is a retry of the same upload: without an imageId, the build's queued image is the earlier attempt's. */
    retry?: boolean;
  };
  /** Send Content-Length instead of chunked transfer (the body must produce exactly this many bytes). */
  contentLength?: number;
  /** Also compute this Glance hash algorithm while streaming (a cloud with os_hash_algo other than sha512). */
  osHashAlgo?: string;
  /** Called as bytes go out (for heartbeats). */
  onProgress?: (bytesSent: number) => void;
  /** Called with the image the upload goes into (for heartbeats: a retry resumes with the same image). */
  onImage?: (imageId: string) => void;
  /** Glance taking no body byte for this long fails the upload with the retryable TransferStalled. */
  idleTimeoutMs?: number;
  log?: Logger;
}

export interface PublishResult {
  imageId: string;
  reused: boolean;
  status: string;
  size: number;
  checksum: string;
  osHashAlgo: string | null;
  osHashValue: string | null;
}

/** Bound of the clean-up calls made after a failure (they must not inherit an aborted signal). */
const CLEANUP_TIMEOUT_MS = 60_000;

function nodeHashName(glanceAlgo: string): string {
  if (glanceAlgo.startsWith('sha3_')) return glanceAlgo.replace('_', '-');
  if (glanceAlgo === 'blake2b') return 'blake2b512';
  if (glanceAlgo === 'blake2s') return 'blake2s256';
  return glanceAlgo;
}

function abortError(signal: AbortSignal): XenimageError {
  return new XenimageError('PublishAborted', 'the image upload was aborted', {
    retryable: false,
    cause: signal.reason,
  });
}

function toResult(image: GlanceImage, reused: boolean): PublishResult {
  return {
    imageId: image.id,
    reused,
    status: image.status,
    size: image.size ?? 0,
    checksum: image.checksum ?? '',
    osHashAlgo: image.os_hash_algo,
    osHashValue: image.os_hash_value,
  };
}

/**
 * Right after our create: an older image of the build that is already active (another attempt finished first) is
 * returned instead of uploading ours. Everything else is settled once ours is verified (claimAndSettle).
 */
async function olderActiveImage(
  listBuildImages: () => Promise<GlanceImage[]>,
  ours: GlanceImage,
): Promise<GlanceImage | undefined> {
  return (await listBuildImages())
    .filter((img) => img.id !== ours.id && img.status === 'active' && byCreation(img, ours) < 0)
    .sort(byCreation)[0];
}

/**
 * The build's images; an active one is kept (the one matching `previous` first), and when there is none, the
 * earlier attempt's image if it is still queued, to upload into again; all others are deleted.
 */
async function reuseOrClear(
  cloud: OpenStackCloud,
  spec: PublishSpec,
  opts: PublishOptions,
  logger: Logger,
): Promise<{ active?: GlanceImage; resume?: GlanceImage }> {
  const owner = await cloud.session.projectId(opts.signal);
  const images = (await cloud.glance.listImages({ tag: buildTag(spec.buildId), owner }, opts.signal)).sort(byCreation);
  const active = images.filter((img) => img.status === 'active');
  const prev = opts.previous;
  const matchesPrevious = (img: GlanceImage): boolean =>
    prev !== undefined &&
    (prev.imageId === undefined || prev.imageId === img.id) &&
    (prev.size === undefined || prev.size === img.size) &&
    (prev.checksum === undefined || prev.checksum === img.checksum);
  const keep = active.find(matchesPrevious) ?? active[0];
  // The earlier attempt's image, by the ID its heartbeat carried; a retry without one (its attempt failed before
  // the throttled heartbeat went out) takes the build's newest image that holds no data: an upload in progress
  // would be `saving`, so a `queued` one is nobody's.
  const queued = images.filter((img) => img.status === 'queued');
  const resume = keep
    ? undefined
    : prev?.imageId !== undefined
      ? queued.find((img) => img.id === prev.imageId)
      : prev?.retry
        ? queued.at(-1)
        : undefined;
  for (const img of images) {
    if (img === keep || img === resume) continue;
    // A claimed (protected) image belongs to an attempt settling right now: it is left to that attempt.
    if (img.protected === true) continue;
    logger.info({ imageId: img.id, status: img.status }, 'deleting a leftover image of this build');
    await cloud.glance.deleteImage(img.id, opts.signal);
  }
  return { ...(keep ? { active: keep } : {}), ...(resume ? { resume } : {}) };
}

/** Streams the body once; returns the digests and counts. Throws GlanceUnauthorized (type) on a 401. */
async function uploadOnce(
  cloud: OpenStackCloud,
  imageId: string,
  body: () => UploadBody,
  opts: PublishOptions,
  contentLength: number | undefined,
) {
  const { stream, result } = body();
  result.catch(() => undefined); // observed below; a stream failure also surfaces through the upload
  // Inactivity of the request body: Glance (or a proxy before it) taking no byte for idleTimeoutMs is a stall.
  const idle = new AbortController();
  const idleMs = opts.idleTimeoutMs;
  const timer = idleMs
    ? setTimeout(() => idle.abort(new TransferStalledError('the Glance upload', idleMs)), idleMs)
    : undefined;
  const signal = opts.signal ? AbortSignal.any([opts.signal, idle.signal]) : idle.signal;
  const extra: Hash | undefined =
    opts.osHashAlgo && opts.osHashAlgo !== 'sha512' ? createHash(nodeHashName(opts.osHashAlgo)) : undefined;
  let bytesSent = 0;
  let sourceError: unknown;
  async function* tap(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        bytesSent += chunk.length;
        extra?.update(chunk);
        opts.onProgress?.(bytesSent);
        yield chunk;
        timer?.refresh(); // Glance took the chunk
      }
    } catch (err) {
      sourceError = err;
      throw err;
    }
  }
  try {
    await cloud.glance.uploadImageData(imageId, tap(), {
      ...(contentLength !== undefined ? { contentLength } : {}),
      signal,
    });
  } catch (err) {
    stream.destroy();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    if (idle.signal.aborted) throw idle.signal.reason as TransferStalledError;
    if (sourceError !== undefined) {
      throw isXenimageError(sourceError)
        ? sourceError
        : new XenimageError('ImageSourceFailed', `the image data could not be produced: ${errorMessage(sourceError)}`, {
            retryable: true,
            cause: sourceError,
          });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const produced = await result;
  const hashes: Record<string, string> = { sha512: produced.sha512, ...produced.hashes };
  if (extra && opts.osHashAlgo) hashes[opts.osHashAlgo] = extra.digest('hex');
  return { bytesSent, tgzBytes: produced.tgzBytes, md5: produced.md5, hashes };
}

/**
 * The first of the two passes of the Content-Length fallback: the body is produced once and only counted (its
 * output is deterministic, so the second pass sends exactly as many bytes). No temporary file.
 */
async function countBody(body: () => UploadBody, signal: AbortSignal | undefined): Promise<number> {
  const { stream, result } = body();
  result.catch(() => undefined);
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (signal?.aborted) throw abortError(signal);
      bytes += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  const produced = await result;
  if (produced.tgzBytes !== bytes) {
    throw new XenimageError(
      'ImageSourceFailed',
      `the body counted ${produced.tgzBytes} bytes itself but produced ${bytes}`,
      { retryable: true },
    );
  }
  return bytes;
}

/**
 * Publishes one image for `spec.buildId`: reuses an active image of the build, else creates one, streams
 * `body()` into it, verifies it, and deletes it on any failure or abort. `body()` is called again only to
 * restart once after a 401 (with a new token), or, when the server refuses chunked transfer (411), twice more
 * for the two-pass Content-Length fallback (count, then send).
 */
export async function publishImage(
  cloud: OpenStackCloud,
  spec: PublishSpec,
  body: () => UploadBody,
  opts: PublishOptions = {},
): Promise<PublishResult> {
  const create = toCreateRequest(spec);
  if (opts.osHashAlgo !== undefined && !getHashes().includes(nodeHashName(opts.osHashAlgo))) {
    throw new InvalidInputError(`osHashAlgo "${opts.osHashAlgo}" is not a hash algorithm this Node can compute`, {
      field: 'osHashAlgo',
    });
  }
  const logger = (opts.log ?? log()).child({ component: 'openstack', buildId: spec.buildId });
  if (opts.signal?.aborted) throw abortError(opts.signal);

  let image: GlanceImage;
  let resumed: boolean;
  try {
    const existing = await reuseOrClear(cloud, spec, opts, logger);
    if (existing.active) {
      logger.info({ imageId: existing.active.id }, 'reusing the active image of this build');
      return toResult(existing.active, true);
    }
    resumed = existing.resume !== undefined;
    image = existing.resume ?? (await cloud.glance.createImage(create, opts.signal));
  } catch (err) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
  opts.onImage?.(image.id);
  logger.info(
    { imageId: image.id, name: spec.name },
    resumed ? "uploading again into the earlier attempt's image" : 'image created; uploading',
  );
  try {
    const listBuildImages = async () =>
      cloud.glance.listImages(
        { tag: buildTag(spec.buildId), owner: await cloud.session.projectId(opts.signal) },
        opts.signal,
      );
    const finished = resumed ? undefined : await olderActiveImage(listBuildImages, image);
    if (finished) {
      logger.info({ imageId: finished.id }, 'another attempt of this build finished first; reusing its image');
      await deleteQuietly(cloud, image.id, logger);
      return toResult(finished, true);
    }
    let sent: Awaited<ReturnType<typeof uploadOnce>>;
    let contentLength = opts.contentLength;
    let restartedAfter401 = false;
    for (;;) {
      // A fresh token for the whole stream: Glance discards the data of a request whose token has expired.
      await cloud.session.renew(opts.signal);
      try {
        sent = await uploadOnce(cloud, image.id, body, opts, contentLength);
        break;
      } catch (err) {
        if (err instanceof GlanceError && err.status === 401 && !restartedAfter401) {
          restartedAfter401 = true;
          logger.warn(
            { imageId: image.id },
            'Glance refused the token during the upload; restarting it once with a new token',
          );
        } else if (err instanceof GlanceError && err.status === 411 && contentLength === undefined) {
          logger.warn(
            { imageId: image.id },
            'the server refused a chunked upload (411); counting the body to send it with Content-Length',
          );
          contentLength = await countBody(body, opts.signal);
        } else {
          throw err;
        }
      }
    }
    const verified = verifyUploadedImage(await cloud.glance.getImage(image.id, opts.signal), sent);
    logger.info({ imageId: image.id, size: verified.size }, 'image uploaded and verified');
    const survivor = await claimAndSettle(cloud, listBuildImages, image, logger, opts.signal);
    if (survivor.id !== image.id) return toResult(survivor, true);
    return { imageId: image.id, reused: false, status: 'active', ...verified };
  } catch (err) {
    // A stall (ours, or the caller's watchdog aborting with it) keeps the image: the retry uploads into it again.
    const stalled = err instanceof TransferStalledError || opts.signal?.reason instanceof TransferStalledError;
    if (stalled) logger.warn({ imageId: image.id }, 'the upload stalled; the image is kept for the retry');
    else await deleteQuietly(cloud, image.id, logger);
    if (opts.signal?.reason instanceof TransferStalledError) throw opts.signal.reason;
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}

async function deleteQuietly(cloud: OpenStackCloud, imageId: string, logger: Logger): Promise<void> {
  try {
    await removeImage(cloud, imageId, AbortSignal.timeout(CLEANUP_TIMEOUT_MS));
    logger.info({ imageId }, 'deleted the image of this attempt');
  } catch (err) {
    // The original failure matters more; the build tag lets deleteBuildImages find this image later.
    logger.error({ imageId, err: errorMessage(err) }, 'could not delete the image of this attempt');
  }
}

/** Saga compensation: deletes every image of the build (any status). Returns the deleted image IDs. */
export async function deleteBuildImages(
  cloud: OpenStackCloud,
  buildId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const owner = await cloud.session.projectId(signal);
  const images = await cloud.glance.listImages({ tag: buildTag(buildId), owner }, signal);
  const deleted: string[] = [];
  for (const img of images) if (await removeImage(cloud, img.id, signal)) deleted.push(img.id);
  return deleted;
}

/** The image's data as a stream, for verification. */
export function downloadImage(cloud: OpenStackCloud, imageId: string, signal?: AbortSignal): Promise<Readable> {
  return cloud.glance.downloadImageData(imageId, signal);
}
