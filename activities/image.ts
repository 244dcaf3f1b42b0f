// The shared image set (ARCHITECTURE.md §2): inspect a source, stream it as a tap VHD tarball into Glance,
// verify what Glance holds, and remove a build's image. Thin adapters over src/pack, src/disk and src/openstack.
import { Context } from '@temporalio/activity';
import path from 'node:path';
import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import { loadConfig } from '../src/config.js';
import type { ImageSource } from '../src/contracts/convertInput.js';
import type { ImageSpec } from '../src/contracts/imageSpec.js';
import { InvalidInputError, XenimageError } from '../src/errors.js';
import {
  buildTag,
  connectCloud,
  deleteBuildImages,
  downloadImage,
  publishImage,
  type OpenStackCloud,
  type PublishResult,
} from '../src/openstack/index.js';
import { openImageSource, packImage, packVhdStream, type PackedImage } from '../src/pack/pipeline.js';
import { verifyTgz } from '../src/pack/verifyTgz.js';
import { rewriteVhdStream } from '../src/disk/vhdStreamRewriter.js';
import type { XapiConnection } from '../src/xapi/connection.js';
import type { Ref } from '../src/xapi/records.js';
import { BUILD_TAG, findTagged } from '../src/xapi/tags.js';
import { activity, buildId, ProgressReporter } from './support.js';
import { withPool } from './xen.js';

export interface SourceReport {
  format: string;
  virtualSize: number;
  allocatedBytes: number;
  vhdBytes: number;
  bridged: boolean;
}

/** Where temporary files of the qemu-img bridge go: the worker's state dir, not /tmp (disks are big). */
function tempDir(): string {
  return path.resolve(loadConfig().stateDir, 'tmp');
}

async function withCloud<T>(name: string, fn: (cloud: OpenStackCloud) => Promise<T>): Promise<T> {
  const cloud = connectCloud(name);
  try {
    return await fn(cloud);
  } finally {
    await cloud.close();
  }
}

/** Opens the source, reads its metadata (format, size, allocation) and closes it: no side effect. */
export async function inspectSource(input: { source: ImageSource }): Promise<SourceReport> {
  return activity(async (signal) => {
    const image = await openImageSource(input.source, { signal, tempDir: tempDir() });
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
}

/** Authenticates to the cloud and finds its Glance endpoint: a bad cloud name fails before anything is made. */
export async function checkCloud(input: { cloud: string }): Promise<{ glance: string }> {
  return activity(async (signal) =>
    withCloud(input.cloud, async (cloud) => ({ glance: await cloud.glance.endpoint(signal) })),
  );
}

export interface PublishImageInput {
  cloud: string;
  image: ImageSpec;
  /** Glance properties (strings), vm_mode/os_type included. */
  properties: Record<string, string>;
  compressionLevel?: number;
}

export interface PublishedImage extends PublishResult {
  virtualSize: number;
  vhdBytes: number;
  tgzBytes: number;
}

/**
 * Streams a packed image into Glance as this build's image, heartbeating {phase, bytesDone, bytesTotal}.
 * `pack` is called once per upload attempt (a 401 restarts the upload with a fresh token).
 */
export async function publishPacked(
  input: PublishImageInput,
  reporter: ProgressReporter,
  signal: AbortSignal,
  pack: () => Promise<PackedImage> | PackedImage,
): Promise<PublishedImage> {
  return withCloud(input.cloud, async (cloud) => {
    let last: PackedImage | undefined;
    const result = await publishImage(
      cloud,
      {
        buildId: buildId(),
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
  });
}

/** What an earlier attempt of this activity heartbeated (its image), to prefer that image when reusing. */
function previousAttempt(): { imageId?: string } | undefined {
  const details = Context.current().info.heartbeatDetails as { imageId?: string } | undefined;
  return details?.imageId ? { imageId: details.imageId } : undefined;
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

/** convertImage's data path: source file/URL → tap VHD → tar `0.vhd` → gzip → Glance, in one pass. */
export async function convertToGlance(input: PublishImageInput & { source: ImageSource }): Promise<PublishedImage> {
  return activity(async (signal) => {
    const reporter = new ProgressReporter({ phase: 'open' }, { signalEveryMs: 10_000 });
    const image = await openImageSource(input.source, {
      signal,
      tempDir: tempDir(),
      onBridgeProgress: (phase, fraction) =>
        reporter.update({ phase, bytesDone: Math.round(fraction * 1000), bytesTotal: 1000 }),
    });
    try {
      return await publishPacked(input, reporter, signal, () =>
        packImage(image, {
          level: input.compressionLevel,
          signal,
          onProgress: (p) =>
            reporter.update({ phase: 'pack', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, tgzBytes: p.tgzBytes }),
        }),
      );
    } finally {
      await image.close();
      await reporter.stop();
    }
  });
}

/**
 * A VDI of a pool → Glance: XAPI's `export_raw_vdi?format=vhd` stream re-written as a tap VHD → tar `0.vhd` →
 * gzip → Glance, in one pass (each upload attempt exports again). Export only a halted VM's or a snapshot's disk.
 */
export async function exportToGlance(input: PublishImageInput & { pool: string; vdi: Ref }): Promise<PublishedImage> {
  return activity(async (signal) => {
    const reporter = new ProgressReporter({ phase: 'export' }, { signalEveryMs: 10_000 });
    try {
      return await publishPacked(input, reporter, signal, async () =>
        withPool(input.pool, async (conn) => {
          const exported = await conn.exportVdi(input.vdi, 'vhd', { signal });
          // The task settles when XAPI finishes streaming; its failure reaches the stream as an early end.
          exported.task.catch(() => undefined);
          return packVhdStream(exported.stream, {
            level: input.compressionLevel,
            signal,
            onProgress: (p) =>
              reporter.update({
                phase: 'export',
                bytesDone: p.bytesDone,
                bytesTotal: p.bytesTotal,
                tgzBytes: p.tgzBytes,
              }),
          });
        }),
      );
    } finally {
      await reporter.stop();
    }
  });
}

/**
 * The classic manual recipe's normalisation: the VDI exported as a VHD stream, re-written as a tap VHD and
 * imported into a new VDI on an EXT SR (tagged with the build, found again on retry), from which the image is
 * then exported. Returns the new VDI.
 */
export async function normalizeVdi(input: {
  pool: string;
  vdi: Ref;
  sr?: string;
}): Promise<{ vdi: Ref; sr: string; reused: boolean }> {
  return activity(async (signal) => {
    const id = buildId();
    const reporter = new ProgressReporter({ phase: 'normalize' });
    try {
      return await withPool(input.pool, async (conn) => {
        const source = await conn.fetch('VDI', input.vdi);
        const sr = findExtSr(conn, input.sr);
        await conn.barrier();
        const name = `xenimage-normalized-${id}`;
        const mine = findTagged(conn, id).vdis.filter(
          (v) => v.name_label === name && v.other_config[NORMALIZED_KEY] === 'done',
        );
        if (mine[0]) return { vdi: mine[0].$ref, sr: sr.name_label, reused: true };
        const exported = await conn.exportVdi(input.vdi, 'vhd', { signal });
        exported.task.catch(() => undefined);
        const tap = await rewriteVhdStream(exported.stream, { signal, what: 'XAPI VHD export' });
        const target =
          findTagged(conn, id).vdis.find((v) => v.name_label === name) ??
          (await conn.fetch(
            'VDI',
            await conn.call<Ref>('VDI.create', {
              SR: sr.$ref,
              virtual_size: source.virtual_size,
              type: 'user',
              sharable: false,
              read_only: false,
              other_config: { [BUILD_TAG]: id },
              name_label: name,
              name_description: `xenimage: ${source.name_label} through an EXT SR`,
            }),
          ));
        await conn.importVdi(target.$ref, tap.stream, tap.size, 'vhd', {
          signal,
          onProgress: (bytes) => reporter.update({ bytesDone: bytes, bytesTotal: tap.size }),
        });
        await conn.call('VDI.add_to_other_config', target.$ref, NORMALIZED_KEY, 'done');
        return { vdi: target.$ref, sr: sr.name_label, reused: false };
      });
    } finally {
      await reporter.stop();
    }
  });
}

const NORMALIZED_KEY = 'xenimage-normalized';

/** The EXT SR to normalise through: by name, else the first SR of type ext. */
function findExtSr(conn: XapiConnection, name?: string) {
  const srs = conn
    .all('SR')
    .filter((sr) => sr.type === 'ext' && (name === undefined || sr.name_label === name || sr.uuid === name));
  if (!srs[0])
    throw new InvalidInputError(name ? `no EXT SR named "${name}"` : 'the pool has no EXT SR to normalise through', {
      sr: name ?? null,
    });
  return srs[0];
}

/** This build's images in the cloud (for a failure that keeps its leftovers). */
export async function listBuildImages(input: { cloud: string }): Promise<string[]> {
  return activity(async (signal) =>
    withCloud(input.cloud, async (cloud) =>
      (await cloud.glance.listImages({ tag: buildTag(buildId()) }, signal)).map(
        (i) => `Glance image "${i.name ?? ''}" ${i.id} (${i.status})`,
      ),
    ),
  );
}

/** Saga compensation: removes every image of this build from the cloud. */
export async function deleteBuildImage(input: { cloud: string }): Promise<{ deleted: string[] }> {
  return activity(async (signal) =>
    withCloud(input.cloud, async (cloud) => ({ deleted: await deleteBuildImages(cloud, buildId(), signal) })),
  );
}

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
}

/**
 * Streams the image back from Glance and checks it the way a XenServer host would take it: one gzip member,
 * exactly `0.vhd`, a valid tap VHD of the expected size, bytes equal to Glance's own checksums.
 */
export async function verifyImage(input: {
  cloud: string;
  imageId: string;
  expectedVirtualSize: number;
}): Promise<ImageVerification> {
  return activity(async (signal) =>
    withCloud(input.cloud, async (cloud) => {
      const reporter = new ProgressReporter({ phase: 'verify' });
      try {
        const record = await cloud.glance.getImage(input.imageId, signal);
        if (record.status !== 'active') {
          throw new XenimageError('ImageNotActive', `image ${input.imageId} is ${record.status}, not active`, {
            retryable: false,
          });
        }
        const download = await downloadImage(cloud, input.imageId, signal);
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
        const report = await verifyTgz(counted, { expectedVirtualSize: input.expectedVirtualSize, signal });
        if (
          report.md5 !== record.checksum ||
          (record.os_hash_algo === 'sha512' && report.sha512 !== record.os_hash_value)
        ) {
          throw new XenimageError(
            'ImageChecksumMismatch',
            `image ${input.imageId}: downloaded bytes differ from Glance's checksums`,
            { retryable: false },
          );
        }
        return {
          imageId: input.imageId,
          status: record.status,
          tgzBytes: report.tgzBytes,
          md5: report.md5,
          entry: report.entry.name,
          vhdBytes: report.vhd.vhdBytes,
          virtualSize: report.vhd.virtualSize,
          allocatedBlocks: report.vhd.allocatedBlocks,
          creator: report.vhd.creator,
          creatorVersion: report.vhd.creatorVersion,
        };
      } finally {
        await reporter.stop();
      }
    }),
  );
}
