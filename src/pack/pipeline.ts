// The data path as the activities call it: open a source image (file or URL, any supported format), then pack
// it — tap VHD → tar with the single entry `0.vhd` → one gzip member — hashing the compressed bytes as they
// pass. Also the same packing for a VHD export stream from XAPI. One pass, no temporary files (except the
// qemu-img bridge for foreign formats), memory flat in the disk size.
import type { Readable } from 'node:stream';
import type { DiskReader } from '../disk/reader.js';
import { BlockPool } from '../disk/blockPool.js';
import { createTapVhdStream, type TapVhdStream } from '../disk/tapVhdWriter.js';
import { rewriteVhdStream } from '../disk/vhdStreamRewriter.js';
import type { TapIdentity } from '../disk/vhdFormat.js';
import type { DiskImage } from './imageSource.js';
import { compressionLevel, type CompressorKind } from './compressor.js';
import { tarGz } from './tarGz.js';

export { openImageSource, type DiskImage } from './imageSource.js';

/** The name nova / os-xenapi expect for a single-disk image (docs/reference/disks.md §7). */
export const VHD_ENTRY_NAME = '0.vhd';

export interface PackProgress {
  phase: 'pack';
  /** VHD bytes fed into the archive so far. */
  bytesDone: number;
  bytesTotal: number;
  /** Compressed bytes produced so far. */
  tgzBytes: number;
}

export interface PackOptions {
  /** gzip level 1..9 (default 6). */
  level?: number;
  compressor?: CompressorKind;
  threads?: number;
  signal?: AbortSignal;
  /** Called often (every chunk); the caller throttles. */
  onProgress?: (progress: PackProgress) => void;
  /** Pass the identity (and mtime) of a first pass to reproduce the exact same bytes (e.g. a 2-pass upload). */
  identity?: TapIdentity;
  mtime?: Date;
  /** Block buffer pool (default: a new one); tests pass one to observe reuse. */
  pool?: BlockPool;
}

export interface PackResult {
  tgzBytes: number;
  md5: string;
  sha512: string;
  vhdBytes: number;
  virtualSize: number;
  compressor: CompressorKind;
  /** UUID (hex) and VHD timestamp written, to reproduce the same bytes. */
  identity: { uuid: string; timestamp: number };
  mtime: Date;
}

export interface PackedImage {
  /** The .tgz bytes. Read it to the end (or destroy it); `result` settles when the last byte has passed. */
  stream: Readable;
  vhdBytes: number;
  virtualSize: number;
  result: Promise<PackResult>;
}

/** Packs a source image opened with `openImageSource`. The caller still closes the image afterwards. */
export function packImage(image: DiskImage | DiskReader, options: PackOptions = {}): PackedImage {
  const reader = 'reader' in image ? image.reader : image;
  compressionLevel(options.level); // bad input before anything is built
  // Block buffers are reused once the compressor is done with them: no per-block garbage (peak RSS, GC time).
  const pool = options.pool ?? new BlockPool();
  const vhd = createTapVhdStream(reader, { identity: options.identity, signal: options.signal, pool });
  return packTapVhd(vhd, reader.virtualSize, { ...options, onContentReleased: (offset) => pool.releaseUpTo(offset) });
}

/** Packs a dynamic VHD stream (XAPI `export_raw_vdi?format=vhd`); resolves once the head gave the sizes. */
export async function packVhdStream(input: Readable, options: PackOptions = {}): Promise<PackedImage> {
  compressionLevel(options.level); // bad input before anything is read
  const pool = options.pool ?? new BlockPool();
  const vhd = await rewriteVhdStream(input, {
    identity: options.identity,
    signal: options.signal,
    what: 'XAPI VHD export',
    pool,
  });
  return packTapVhd(vhd, vhd.virtualSize, { ...options, onContentReleased: (offset) => pool.releaseUpTo(offset) });
}

function packTapVhd(
  vhd: TapVhdStream,
  virtualSize: number,
  options: PackOptions & { onContentReleased?: (offset: number) => void },
): PackedImage {
  const { stream, result } = tarGz(VHD_ENTRY_NAME, vhd.stream, vhd.size, {
    ...options,
    onBytes: (bytesDone, tgzBytes) =>
      options.onProgress?.({ phase: 'pack', bytesDone, bytesTotal: vhd.size, tgzBytes }),
  });
  const packed = result.then((r) => ({
    ...r,
    vhdBytes: vhd.size,
    virtualSize,
    identity: { uuid: vhd.identity.uuid.toString('hex'), timestamp: vhd.identity.timestamp },
  }));
  packed.catch(() => undefined); // the caller may only watch the stream; the rejection is theirs to read
  return { stream, vhdBytes: vhd.size, virtualSize, result: packed };
}

/** Rebuilds a TapIdentity from a PackResult's identity, for a second identical pass. */
export function identityFrom(result: { uuid: string; timestamp: number }): TapIdentity {
  return { uuid: Buffer.from(result.uuid, 'hex'), timestamp: result.timestamp };
}
