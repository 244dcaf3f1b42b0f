// The shared image set: inspect a source, stream it as a tap VHD tarball into Glance, verify what Glance holds, and
// remove or list a build's images. Thin adapters over src/pack, src/disk, src/xapi and src/openstack.
import { Context } from '@temporalio/activity';
import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import { z } from 'zod';
import { ImageSourceSchema, type ImageSource } from '../src/contracts/convertInput.js';
import { ImageSpecSchema, type ImageSpec } from '../src/contracts/imageSpec.js';
import { XenimageError } from '../src/errors.js';
import { checkLocalInput } from '../src/inputs/localFiles.js';
import { checkUrl, guardedFetch } from '../src/inputs/network.js';
import {
  buildTag,
  deleteBuildImages,
  downloadImage,
  publishImage,
  type OpenStackCloud,
  type PublishResult,
} from '../src/openstack/index.js';
import { openImageSource, packImage, packVhdStream, type PackedImage } from '../src/pack/pipeline.js';
import { verifyTgz } from '../src/pack/verifyTgz.js';
import type { XapiConnection } from '../src/xapi/connection.js';
import { exportVhd, normalizeVdi as normalizeThroughExtSr } from '../src/xapi/vdiStreams.js';
import type { ActivityDeps } from './deps.js';
import { BuildIdSchema, onPool, PoolNameSchema, RefSchema } from './pool.js';
import { activity, parse, ProgressReporter, withPoolSlot } from './support.js';

export interface SourceReport {
  format: string;
  virtualSize: number;
  allocatedBytes: number;
  vhdBytes: number;
  bridged: boolean;
}

const CloudSchema = z.string().min(1);
/** A transfer's stall timeout (tuning.stallTimeout), set by the workflow's transfer proxy (workflows/build/proxies.ts). */
const StallSchema = z.number().int().positive().optional();
/** The default of tuning.stallTimeout, for a transfer called without one. */
const DEFAULT_STALL_MS = 120_000;
/**
 * Sockets give up a little after the transfer's own watchdog, so a stall is reported by the watchdog (typed, with
 * its phase) and the socket timeouts are the backstop of code that runs without one.
 */
const SOCKET_GRACE_MS = 5_000;

/** What every upload takes: the cloud, the build identity it tags the image with, the image and its properties. */
const PublishFields = {
  cloud: CloudSchema,
  /** The build identity the image is tagged with (`xenimage-build:<build>`). */
  build: BuildIdSchema,
  image: ImageSpecSchema,
  /** Glance properties (strings), vm_mode/os_type included. */
  properties: z.record(z.string(), z.string()),
  compressionLevel: z.number().int().min(1).max(9).optional(),
  stallTimeoutMs: StallSchema,
};

export interface PublishImageInput {
  cloud: string;
  build: string;
  image: ImageSpec;
  properties: Record<string, string>;
  compressionLevel?: number | undefined;
  stallTimeoutMs?: number | undefined;
}

const InspectInputSchema = z.object({ source: ImageSourceSchema }).strict();
const CloudInputSchema = z.object({ cloud: CloudSchema }).strict();
const ConvertInputSchema = z.object({ source: ImageSourceSchema, ...PublishFields }).strict();
const BuildImagesInputSchema = z.object({ cloud: CloudSchema, build: BuildIdSchema }).strict();
const VerifyInputSchema = z
  .object({
    cloud: CloudSchema,
    imageId: z.string().min(1),
    expectedVirtualSize: z.number().int().positive(),
    stallTimeoutMs: StallSchema,
  })
  .strict();

export interface PublishedImage extends PublishResult {
  virtualSize: number;
  vhdBytes: number;
  tgzBytes: number;
}

/** What verifyImage checked, in the order it checked it. */
export type VerificationCheck =
  'status active' | 'single gzip member' | 'sole entry 0.vhd' | 'tap VHD structure' | 'virtual size' | 'md5' | 'sha512';

export interface ImageVerification {
  imageId: string;
  status: string;
  tgzBytes: number;
  md5: string;
  entry: string;
  vhdBytes: number;
  virtualSize: number;
  allocatedBlocks: number;
  creator: string;
  creatorVersion: string;
  /** The checks that ran and passed (a failed one fails the activity). */
  checks: VerificationCheck[];
}

/**
 * What an earlier attempt of this activity heartbeated (its image), to prefer that image when reusing or resuming;
 * a retry whose earlier attempt's heartbeat never carried one still says it is a retry.
 */
function previousAttempt(): { imageId?: string; retry: true } | undefined {
  const info = Context.current().info;
  const details = info.heartbeatDetails as { imageId?: string } | undefined;
  if (details?.imageId) return { imageId: details.imageId, retry: true };
  return info.attempt > 1 ? { retry: true } : undefined;
}

function stallOf(input: { stallTimeoutMs?: number | undefined }): number {
  return input.stallTimeoutMs ?? DEFAULT_STALL_MS;
}

/** A transfer's reporter: heartbeats when bytes move, fails TransferStalled when none moved for the stall timeout. */
function transferReporter(
  phase: string,
  input: { stallTimeoutMs?: number | undefined },
  what: string,
): ProgressReporter {
  return new ProgressReporter({ phase }, { signalEveryMs: 10_000, stallTimeoutMs: stallOf(input), what });
}

/** A stream available at once for a pack that starts asynchronously (an export whose head is read first). */
function streamOf(packed: Promise<PackedImage>): Readable {
  const out = new PassThrough();
  packed.then(
    (p) => pipeline(p.stream, out, () => undefined),
    (err: unknown) => out.destroy(err as Error),
  );
  return out;
}

const NormalizeInputSchema = z
  .object({
    pool: PoolNameSchema,
    build: BuildIdSchema,
    vdi: RefSchema,
    sr: z.string().min(1).optional(),
    stallTimeoutMs: StallSchema,
  })
  .strict();

const ExportInputSchema = z.object({ pool: PoolNameSchema, vdi: RefSchema, ...PublishFields }).strict();

export function imageActivities(deps: ActivityDeps) {
  async function withCloud<T>(
    name: string,
    fn: (cloud: OpenStackCloud) => Promise<T>,
    idleTimeoutMs?: number,
  ): Promise<T> {
    const cloud = deps.clouds.open(name, idleTimeoutMs ? { idleTimeoutMs } : {});
    try {
      return await fn(cloud);
    } finally {
      await cloud.close();
    }
  }

  /**
   * Streams a packed image into Glance as this build's image, heartbeating {phase, bytesDone, bytesTotal, imageId}.
   * `pack` is called once per upload attempt (a 401 restarts the upload with a fresh token).
   */
  async function publishPacked(
    input: PublishImageInput,
    reporter: ProgressReporter,
    signal: AbortSignal,
    pack: () => Promise<PackedImage> | PackedImage,
  ): Promise<PublishedImage> {
    const idleTimeoutMs = stallOf(input) + SOCKET_GRACE_MS;
    return withCloud(
      input.cloud,
      async (cloud) => {
        let last: PackedImage | undefined;
        const result = await publishImage(
          cloud,
          {
            buildId: input.build,
            name: input.image.name,
            visibility: input.image.visibility,
            minDiskGiB: input.image.minDiskGiB,
            minRamMiB: input.image.minRamMiB,
            properties: input.properties,
          },
          () => {
            const packed = pack();
            const stream = packed instanceof Promise ? streamOf(packed) : packed.stream;
            const resultOf = async () => {
              const p = await packed;
              last = p;
              const r = await p.result;
              return { tgzBytes: r.tgzBytes, md5: r.md5, sha512: r.sha512 };
            };
            return { stream, result: resultOf() };
          },
          {
            signal,
            previous: previousAttempt(),
            idleTimeoutMs,
            onImage: (imageId) => reporter.update({ imageId }),
            onProgress: (bytesSent) => reporter.update({ phase: 'upload', tgzBytesSent: bytesSent }),
          },
        );
        const packed = last ? await last.result : undefined;
        return {
          ...result,
          virtualSize: packed?.virtualSize ?? 0,
          vhdBytes: packed?.vhdBytes ?? 0,
          tgzBytes: packed?.tgzBytes ?? result.size,
        };
      },
      idleTimeoutMs,
    );
  }

  /** A VDI of the pool, exported as VHD and packed (each upload attempt exports again). */
  function packExport(conn: XapiConnection, input: z.infer<typeof ExportInputSchema>, reporter: ProgressReporter) {
    return async (signal: AbortSignal) =>
      packVhdStream(await exportVhd(conn, input.vdi, signal, stallOf(input) + SOCKET_GRACE_MS), {
        level: input.compressionLevel,
        signal,
        onProgress: (p) =>
          reporter.update({ phase: 'export', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, tgzBytes: p.tgzBytes }),
      });
  }

  /** The source as the policy allows it to be read: a local file by its real path, after every check. */
  async function allowedSource(source: ImageSource): Promise<ImageSource> {
    if ('path' in source) {
      const checked = await checkLocalInput(source.path, deps.inputs, 'source');
      return { ...source, path: checked.path };
    }
    checkUrl(source.url, deps.inputs, 'source');
    return source;
  }
  // URL sources connect only where the input policy allows, after DNS and after every redirect.
  const inputFetch = guardedFetch(deps.inputs);
  const sourceOptions = { tempDir: deps.paths.tempDir, http: { fetch: inputFetch } };

  return {
    /** Opens the source, reads its metadata (format, size, allocation) and closes it: no side effect. */
    async inspectSource(input: z.input<typeof InspectInputSchema>): Promise<SourceReport> {
      return activity(async (signal) => {
        const i = parse(InspectInputSchema, input, 'inspectSource');
        const image = await openImageSource(await allowedSource(i.source), { ...sourceOptions, signal });
        try {
          return {
            format: image.format,
            virtualSize: image.virtualSize,
            allocatedBytes: image.allocatedBytes,
            vhdBytes: image.vhdSize,
            bridged: image.bridged,
          };
        } finally {
          await image.close();
        }
      });
    },

    /** Authenticates to the cloud and finds its Glance endpoint: a bad cloud name fails before anything is made. */
    async checkCloud(input: z.input<typeof CloudInputSchema>): Promise<{ glance: string }> {
      return activity(async (signal) => {
        const i = parse(CloudInputSchema, input, 'checkCloud');
        return withCloud(i.cloud, async (cloud) => ({ glance: await cloud.glance.endpoint(signal) }));
      });
    },

    /** convertImage's data path: source file/URL → tap VHD → tar `0.vhd` → gzip → Glance, in one pass. */
    async convertToGlance(input: z.input<typeof ConvertInputSchema>): Promise<PublishedImage> {
      return activity(async () => {
        const i = parse(ConvertInputSchema, input, 'convertToGlance');
        const reporter = transferReporter('open', i, 'the conversion');
        try {
          const source = await allowedSource(i.source);
          const image = await reporter.guard((signal) =>
            openImageSource(source, {
              ...sourceOptions,
              signal,
              http: { ...sourceOptions.http, timeoutMs: stallOf(i) + SOCKET_GRACE_MS },
              onBridgeProgress: (phase, fraction) =>
                reporter.update({ phase, bytesDone: Math.round(fraction * 1000), bytesTotal: 1000 }),
            }),
          );
          try {
            return await reporter.guard((signal) =>
              publishPacked(i, reporter, signal, () =>
                packImage(image, {
                  level: i.compressionLevel,
                  signal,
                  onProgress: (p) =>
                    reporter.update({
                      phase: 'pack',
                      bytesDone: p.bytesDone,
                      bytesTotal: p.bytesTotal,
                      tgzBytes: p.tgzBytes,
                    }),
                }),
              ),
            );
          } finally {
            await image.close();
          }
        } finally {
          await reporter.stop();
        }
      });
    },

    /**
     * A VDI of a pool → Glance: XAPI's `export_raw_vdi?format=vhd` stream re-written as a tap VHD → tar `0.vhd` →
     * gzip → Glance, in one pass. Export only a halted VM's or a snapshot's disk.
     */
    exportToGlance: onPool(deps, 'exportToGlance', ExportInputSchema, async (i, conn, signal) =>
      withPoolSlot(deps.pools.slots, i.pool, 'exports', signal, async () => {
        const reporter = transferReporter('export', i, 'the export and upload');
        try {
          const pack = packExport(conn, i, reporter);
          return await reporter.guard((signal) => publishPacked(i, reporter, signal, () => pack(signal)));
        } finally {
          await reporter.stop();
        }
      }),
    ),

    /** The VDI re-imported through an EXT SR (the classic manual recipe); returns the new VDI. */
    normalizeVdi: onPool(deps, 'normalizeVdi', NormalizeInputSchema, async (i, conn, signal) =>
      // It exports and imports at once: a slot of each, always in this order.
      withPoolSlot(deps.pools.slots, i.pool, 'exports', signal, () =>
        withPoolSlot(deps.pools.slots, i.pool, 'imports', signal, async () => {
          const reporter = transferReporter('normalize', i, 'the normalisation through an EXT SR');
          try {
            return await reporter.guard((signal) =>
              normalizeThroughExtSr(conn, i.build, i.vdi, {
                sr: i.sr,
                signal,
                idleTimeoutMs: stallOf(i) + SOCKET_GRACE_MS,
                onProgress: (bytesDone, bytesTotal) => reporter.update({ bytesDone, bytesTotal }),
              }),
            );
          } finally {
            await reporter.stop();
          }
        }),
      ),
    ),

    /** The build's images in the cloud (for a failure that keeps its leftovers). */
    async listBuildImages(input: z.input<typeof BuildImagesInputSchema>): Promise<string[]> {
      return activity(async (signal) => {
        const i = parse(BuildImagesInputSchema, input, 'listBuildImages');
        return withCloud(i.cloud, async (cloud) =>
          (await cloud.glance.listImages({ tag: buildTag(i.build) }, signal)).map(
            (image) => `Glance image "${image.name ?? ''}" ${image.id} (${image.status})`,
          ),
        );
      });
    },

    /** Saga compensation: removes every image of the build from the cloud (before the commit point only). */
    async deleteBuildImage(input: z.input<typeof BuildImagesInputSchema>): Promise<{ deleted: string[] }> {
      return activity(async (signal) => {
        const i = parse(BuildImagesInputSchema, input, 'deleteBuildImage');
        return withCloud(i.cloud, async (cloud) => ({ deleted: await deleteBuildImages(cloud, i.build, signal) }));
      });
    },

    /**
     * Streams the image back from Glance and checks it the way a XenServer host would take it: one gzip member,
     * exactly `0.vhd`, a valid tap VHD of the expected size, bytes equal to Glance's own checksums.
     */
    async verifyImage(input: z.input<typeof VerifyInputSchema>): Promise<ImageVerification> {
      return activity(async () => {
        const i = parse(VerifyInputSchema, input, 'verifyImage');
        const reporter = transferReporter('verify', i, 'the verification download');
        try {
          return await withCloud(
            i.cloud,
            (cloud) =>
              reporter.guard(async (signal) => {
                const record = await cloud.glance.getImage(i.imageId, signal);
                if (record.status !== 'active') {
                  throw new XenimageError('ImageNotActive', `image ${i.imageId} is ${record.status}, not active`, {
                    retryable: false,
                  });
                }
                const download = await downloadImage(cloud, i.imageId, signal);
                let seen = 0;
                const counted = download.pipe(
                  new Transform({
                    transform(chunk: Buffer, _enc, done) {
                      reporter.update({ bytesDone: (seen += chunk.length), bytesTotal: record.size ?? undefined });
                      done(null, chunk);
                    },
                  }),
                );
                download.once('error', (err) => counted.destroy(err));
                const report = await verifyTgz(counted, { expectedVirtualSize: i.expectedVirtualSize, signal });
                const sha512Compared = record.os_hash_algo === 'sha512';
                if (report.md5 !== record.checksum || (sha512Compared && report.sha512 !== record.os_hash_value)) {
                  throw new XenimageError(
                    'ImageChecksumMismatch',
                    `image ${i.imageId}: downloaded bytes differ from Glance's checksums`,
                    { retryable: false },
                  );
                }
                const checks: VerificationCheck[] = [
                  'status active',
                  'single gzip member',
                  'sole entry 0.vhd',
                  'tap VHD structure',
                  'virtual size',
                  'md5',
                  ...(sha512Compared ? (['sha512'] as const) : []),
                ];
                return {
                  imageId: i.imageId,
                  status: record.status,
                  tgzBytes: report.tgzBytes,
                  md5: report.md5,
                  entry: report.entry.name,
                  vhdBytes: report.vhd.vhdBytes,
                  virtualSize: report.vhd.virtualSize,
                  allocatedBlocks: report.vhd.allocatedBlocks,
                  creator: report.vhd.creator,
                  creatorVersion: report.vhd.creatorVersion,
                  checks,
                };
              }),
            stallOf(i) + SOCKET_GRACE_MS,
          );
        } finally {
          await reporter.stop();
        }
      });
    },
  };
}
