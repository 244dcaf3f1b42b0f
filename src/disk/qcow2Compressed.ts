// Decompression of one qcow2 compressed cluster, bounded to exactly one cluster of output: a cluster that
// inflates past its size, or ends short, is corrupt. zlib clusters are raw deflate (window bits -12); zstd
// clusters are one or more zstd frames followed by padding. Facts: docs/reference/disks.md §5.3.
import { inflateRawSync } from 'node:zlib';
import { Decompress } from 'fzstd';
import { DiskCorruptError } from './errors.js';
import type { Qcow2Compression } from './qcow2Header.js';

/** Largest zstd window we allocate for (fzstd allocates the window the frame declares). */
const MAX_ZSTD_WINDOW = 16 * 1024 * 1024;

export function decompressCluster(kind: Qcow2Compression, input: Buffer, clusterSize: number, where: string): Buffer {
  return kind === 'zlib' ? inflateCluster(input, clusterSize, where) : unzstdCluster(input, clusterSize, where);
}

function inflateCluster(input: Buffer, clusterSize: number, where: string): Buffer {
  let out: Buffer;
  try {
    out = inflateRawSync(input, { maxOutputLength: clusterSize });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ERR_BUFFER_TOO_LARGE'
        ? 'inflates past the cluster size'
        : `does not inflate (${(err as Error).message})`;
    throw new DiskCorruptError(`${where}: compressed cluster ${reason}`, { clusterSize }, err);
  }
  if (out.length !== clusterSize) {
    throw new DiskCorruptError(
      `${where}: compressed cluster inflates to ${out.length} bytes, expected ${clusterSize}`,
      { clusterSize },
    );
  }
  return out;
}

function corrupt(where: string, why: string, cause?: unknown): DiskCorruptError {
  return new DiskCorruptError(`${where}: zstd compressed cluster ${why}`, undefined, cause);
}

interface FrameInfo {
  /** Length of the whole frame in bytes (header, blocks, checksum). */
  length: number;
  windowSize: number;
  skippable: boolean;
}

/** Walks a zstd frame's header and block headers (RFC 8878 §3.1) to find where it ends, without decoding it. */
function frameInfo(buf: Buffer, start: number, where: string): FrameInfo {
  if (start + 8 > buf.length) throw corrupt(where, 'is truncated');
  const magic = buf.readUInt32LE(start);
  if ((magic & 0xfffffff0) === 0x184d2a50) {
    return { length: 8 + buf.readUInt32LE(start + 4), windowSize: 0, skippable: true };
  }
  if (magic !== 0xfd2fb528) throw corrupt(where, 'has no zstd frame magic');
  const fhd = buf[start + 4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictIdFlag = fhd & 3;
  if (fhd & 8) throw corrupt(where, 'has a reserved frame header bit set');
  let pos = start + 5;
  let windowSize = 0;
  if (!singleSegment) {
    const wd = buf[pos++]!;
    const base = 2 ** (10 + (wd >> 3));
    windowSize = base + (base / 8) * (wd & 7);
  }
  pos += [0, 1, 2, 4][dictIdFlag]!;
  if (dictIdFlag !== 0) throw corrupt(where, 'needs a dictionary');
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (singleSegment) {
    if (pos + fcsBytes > buf.length) throw corrupt(where, 'is truncated');
    let fcs = 0;
    for (let i = 0; i < fcsBytes; i++) fcs += buf[pos + i]! * 2 ** (8 * i);
    if (fcsBytes === 2) fcs += 256;
    windowSize = fcs;
  }
  pos += fcsBytes;
  for (;;) {
    if (pos + 3 > buf.length) throw corrupt(where, 'is truncated');
    const bh = buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16);
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw corrupt(where, 'has a reserved block type');
    pos += 3 + (type === 1 ? 1 : size);
    if (pos > buf.length) throw corrupt(where, 'is truncated');
    if (last) break;
  }
  if (checksum) pos += 4;
  if (pos > buf.length) throw corrupt(where, 'is truncated');
  return { length: pos - start, windowSize, skippable: false };
}

function unzstdCluster(input: Buffer, clusterSize: number, where: string): Buffer {
  const out = Buffer.alloc(clusterSize);
  let filled = 0;
  let pos = 0;
  // qemu stops once the cluster is full and ignores what follows (padding, the next cluster's bytes).
  while (filled < clusterSize) {
    if (pos >= input.length) throw corrupt(where, `ends after ${filled} of ${clusterSize} bytes`);
    const frame = frameInfo(input, pos, where);
    if (!frame.skippable) {
      if (frame.windowSize > MAX_ZSTD_WINDOW) throw corrupt(where, `declares a ${frame.windowSize}-byte window`);
      const decoder = new Decompress((chunk) => {
        if (filled + chunk.length > clusterSize) throw corrupt(where, 'inflates past the cluster size');
        out.set(chunk, filled);
        filled += chunk.length;
      });
      try {
        decoder.push(input.subarray(pos, pos + frame.length), true);
      } catch (err) {
        if (err instanceof DiskCorruptError) throw err;
        throw corrupt(where, `does not decompress (${(err as Error).message})`, err);
      }
    }
    pos += frame.length;
  }
  return out;
}
