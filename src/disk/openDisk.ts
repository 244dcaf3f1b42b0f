// Opens any supported image as a DiskReader: detects the format by magic bytes, reads qcow2, VHD and raw
// natively, and sends other formats through the qemu-img bridge (a temporary qcow2, removed on close).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { InvalidInputError } from '../errors.js';
import { detectFormat } from './detect.js';
import { proveFormat } from './formatProof.js';
import { checkVmdk } from './vmdkCheck.js';
import { FileSource } from './fileSource.js';
import { HttpSource, describeUrl, type HttpSourceOptions } from './httpSource.js';
import type { TempImage } from './qemuImg.js';
import { Qcow2Reader } from './qcow2Reader.js';
import { RawReader } from './rawReader.js';
import type { DiskReader, NativeFormat } from './reader.js';
import { readAt, type ByteSource } from './source.js';
import { VhdReader } from './vhdReader.js';

export type ImageSourceSpec =
  { path: string; format?: string } | { url: string; format?: string; headers?: Record<string, string> };

export interface OpenDiskOptions {
  signal?: AbortSignal;
  /** Where the qemu-img bridge puts its temporary file (default: the OS temp dir). */
  tempDir?: string;
  http?: HttpSourceOptions;
  /** Progress of a bridge conversion or download, 0..1. */
  onBridgeProgress?: (phase: 'download' | 'convert', fraction: number) => void;
}

export interface OpenedDisk {
  reader: DiskReader;
  /** The source's format as detected (e.g. 'vmdk' when bridged, else the reader's format). */
  sourceFormat: string;
  /** True when the data comes from a temporary qcow2 made by qemu-img (callers log it; src/disk stays quiet). */
  bridged: boolean;
  /** Closes the source and removes any temporary file. */
  close(): Promise<void>;
}

const NATIVE: readonly string[] = ['raw', 'qcow2', 'vhd', 'vpc'];

/**
 * qemu-img (and with it child_process, readline) only when a source needs it — raw extents, the bridge — so a
 * qcow2 or VHD conversion does not pay for it at start-up (peak RSS of `xenimage convert`, docs/benchmarks.md).
 */
const qemuImg = () => import('./qemuImg.js');

export async function openDisk(spec: ImageSourceSpec, options: OpenDiskOptions = {}): Promise<OpenedDisk> {
  const { signal } = options;
  if ('path' in spec && 'url' in spec) throw new InvalidInputError('give either a path or a url, not both');
  const isUrl = 'url' in spec;
  const source: ByteSource = isUrl
    ? await HttpSource.open(
        spec.url,
        { ...options.http, headers: { ...options.http?.headers, ...spec.headers } },
        signal,
      )
    : await FileSource.open(spec.path);
  let handedOver = false;
  try {
    // The header decides; what the input declares must agree (src/disk/formatProof.ts). Nothing is probed.
    const head = await readAt(source, 0, Math.min(source.size, 4096), 'image header', signal);
    const tail =
      source.size >= 512 ? await readAt(source, source.size - 512, 512, 'image footer', signal) : Buffer.alloc(0);
    let format = proveFormat({
      detected: detectFormat(head, tail),
      declared: spec.format,
      name: isUrl ? new URL(spec.url).pathname : spec.path,
      size: source.size,
      description: source.description,
    });
    if (format === 'vpc') format = 'vhd';
    if (NATIVE.includes(format)) {
      const reader = await openNative(source, format as NativeFormat, isUrl ? undefined : spec.path, signal);
      handedOver = true;
      return { reader, sourceFormat: format, bridged: false, close: () => reader.close() };
    }
    // A foreign format: qemu-img converts it into a temporary qcow2 that our reader reads.
    await source.close();
    handedOver = true;
    return await openBridged(spec, format, options);
  } finally {
    if (!handedOver) await source.close();
  }
}

async function openNative(
  source: ByteSource,
  format: NativeFormat,
  localPath: string | undefined,
  signal?: AbortSignal,
): Promise<DiskReader> {
  if (format === 'qcow2') return Qcow2Reader.open(source, signal);
  if (format === 'vhd') {
    return VhdReader.open(source, {
      signal,
      fixedDataExtents: localPath ? async () => (await qemuImg()).rawDataExtents(localPath, signal) : undefined,
    });
  }
  return RawReader.open(source, localPath ? await (await qemuImg()).rawDataExtents(localPath, signal) : undefined);
}

async function openBridged(spec: ImageSourceSpec, format: string, options: OpenDiskOptions): Promise<OpenedDisk> {
  const { signal } = options;
  let download: { dir: string; file: string } | undefined;
  let temp: TempImage | undefined;
  const cleanup = async () => {
    await temp?.remove();
    if (download) await rm(download.dir, { recursive: true, force: true });
  };
  try {
    const { assertBridgeable, convertToTempQcow2, qemuImgInfo } = await qemuImg();
    let file: string;
    const label = 'url' in spec ? describeUrl(new URL(spec.url)) : spec.path;
    if ('url' in spec) {
      // qemu-img needs a file: download the image first (streamed, with the same Range/ETag checks).
      const dir = await mkdtemp(path.join(options.tempDir ?? os.tmpdir(), 'xenimage-download-'));
      download = { dir, file: path.join(dir, 'source') };
      await downloadTo(spec, download.file, options);
      file = download.file;
    } else {
      file = spec.path;
    }
    // The project reads what qemu-img would open before qemu-img runs: a vmdk's extents, its parent.
    if (format === 'vmdk') await checkVmdk(file, label);
    const info = await qemuImgInfo(file, format, signal);
    assertBridgeable(info, file, label);
    temp = await convertToTempQcow2(file, format, {
      tempDir: options.tempDir,
      signal,
      onProgress: (f) => options.onBridgeProgress?.('convert', f),
    });
    if (download) {
      await rm(download.dir, { recursive: true, force: true });
      download = undefined;
    }
    signal?.throwIfAborted();
    const tempSource = await FileSource.open(temp.path);
    const reader = await Qcow2Reader.open(tempSource, signal).catch(async (err: unknown) => {
      await tempSource.close();
      throw err;
    });
    if (signal?.aborted) {
      await reader.close();
      signal.throwIfAborted();
    }
    return {
      reader,
      sourceFormat: format,
      bridged: true,
      close: async () => {
        await reader.close();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function downloadTo(
  spec: { url: string; headers?: Record<string, string> },
  file: string,
  options: OpenDiskOptions,
): Promise<void> {
  const source = await HttpSource.open(
    spec.url,
    { ...options.http, headers: { ...options.http?.headers, ...spec.headers } },
    options.signal,
  );
  const chunk = 8 * 1024 * 1024;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let pos = 0; pos < source.size; pos += chunk) {
      const buf = Buffer.allocUnsafe(Math.min(chunk, source.size - pos));
      await source.read(buf, pos, options.signal);
      options.onBridgeProgress?.('download', (pos + buf.length) / source.size);
      yield buf;
    }
  }
  try {
    await pipeline(Readable.from(chunks()), createWriteStream(file), { signal: options.signal });
  } finally {
    await source.close();
  }
}
