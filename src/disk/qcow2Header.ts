// qcow2 header (v2 and v3) and header extensions: parsed, validated, and refused with a readable reason when
// the image uses something a flat conversion cannot honour. Spec: qemu docs/interop/qcow2.txt; facts in
// docs/reference/disks.md §5.1–5.2.
import { DiskCorruptError, DiskFormatUnsupportedError } from './errors.js';
import { assertConvertibleSize } from './reader.js';
import { readAt, type ByteSource } from './source.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
/** qemu refuses L1 tables above 32 MiB (QCOW_MAX_L1_SIZE); so do we, which bounds memory. */
const MAX_L1_BYTES = 32 * 1024 * 1024;

const INCOMPAT_DIRTY = 1n << 0n;
const INCOMPAT_CORRUPT = 1n << 1n;
const INCOMPAT_EXTERNAL_DATA = 1n << 2n;
const INCOMPAT_COMPRESSION_TYPE = 1n << 3n;
const INCOMPAT_EXTENDED_L2 = 1n << 4n;
const KNOWN_INCOMPAT =
  INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_EXTERNAL_DATA | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_EXTENDED_L2;

const EXT_END = 0;
const EXT_FULL_DISK_ENCRYPTION = 0x0537be77;
const EXT_EXTERNAL_DATA_FILE = 0x44415441;

export type Qcow2Compression = 'zlib' | 'zstd';

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  extendedL2: boolean;
  compression: Qcow2Compression;
  headerLength: number;
  dirty: boolean;
}

function toSafe(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
}

export async function readQcow2Header(source: ByteSource, signal?: AbortSignal): Promise<Qcow2Header> {
  const what = source.description;
  if (source.size < 72) throw new DiskCorruptError(`${what}: qcow2 header truncated (${source.size} bytes)`);
  const head = await readAt(source, 0, Math.min(source.size, 512), 'qcow2 header', signal);
  if (head.readUInt32BE(0) !== QCOW2_MAGIC) throw new DiskCorruptError(`${what}: not a qcow2 image (bad magic)`);
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) {
    throw new DiskFormatUnsupportedError(`${what}: qcow2 version ${version} is not supported (only 2 and 3)`, {
      version,
    });
  }
  const backingFileOffset = toSafe(head.readBigUInt64BE(8));
  const backingFileSize = head.readUInt32BE(16);
  const clusterBits = head.readUInt32BE(20);
  const size = toSafe(head.readBigUInt64BE(24));
  const cryptMethod = head.readUInt32BE(32);
  const l1Size = head.readUInt32BE(36);
  const l1TableOffset = toSafe(head.readBigUInt64BE(40));

  if (clusterBits < 9 || clusterBits > 21) {
    throw new DiskCorruptError(`${what}: qcow2 cluster_bits ${clusterBits} outside 9..21`, { clusterBits });
  }
  const clusterSize = 2 ** clusterBits;
  if (cryptMethod !== 0) {
    throw new DiskFormatUnsupportedError(
      `${what}: qcow2 image is encrypted (${cryptMethod === 1 ? 'AES' : cryptMethod === 2 ? 'LUKS' : `method ${cryptMethod}`}); decrypt it first`,
      { cryptMethod },
    );
  }

  let incompatible = 0n;
  let headerLength = 72;
  let compression: Qcow2Compression = 'zlib';
  if (version === 3) {
    if (head.length < 104) throw new DiskCorruptError(`${what}: qcow2 v3 header truncated`);
    incompatible = head.readBigUInt64BE(72);
    const refcountOrder = head.readUInt32BE(96);
    headerLength = head.readUInt32BE(100);
    if (headerLength < 104 || headerLength % 8 !== 0 || headerLength > Math.min(clusterSize, head.length)) {
      throw new DiskCorruptError(`${what}: qcow2 header_length ${headerLength} is invalid`, { headerLength });
    }
    if (refcountOrder > 6) throw new DiskCorruptError(`${what}: qcow2 refcount_order ${refcountOrder} is invalid`);
    if (headerLength > 104) {
      const type = head.readUInt8(104);
      if (type === 1) compression = 'zstd';
      else if (type !== 0)
        throw new DiskFormatUnsupportedError(`${what}: unknown qcow2 compression type ${type}`, {
          compressionType: type,
        });
    }
    if ((compression === 'zstd') !== ((incompatible & INCOMPAT_COMPRESSION_TYPE) !== 0n)) {
      throw new DiskCorruptError(`${what}: qcow2 compression type and its incompatible-feature bit disagree`);
    }
  }
  if (incompatible & INCOMPAT_CORRUPT) {
    throw new DiskFormatUnsupportedError(
      `${what}: qcow2 image is marked corrupt; repair it with 'qemu-img check -r all' first`,
    );
  }
  if (incompatible & INCOMPAT_EXTERNAL_DATA) {
    throw new DiskFormatUnsupportedError(
      `${what}: qcow2 image keeps its data in an external data file, which is not supported`,
    );
  }
  const unknown = incompatible & ~KNOWN_INCOMPAT;
  if (unknown !== 0n) {
    throw new DiskFormatUnsupportedError(
      `${what}: qcow2 image uses unknown incompatible features (0x${unknown.toString(16)})`,
      {
        incompatible: `0x${incompatible.toString(16)}`,
      },
    );
  }
  const extendedL2 = (incompatible & INCOMPAT_EXTENDED_L2) !== 0n;
  if (extendedL2 && clusterBits < 14) {
    throw new DiskCorruptError(`${what}: qcow2 extended L2 entries need clusters of at least 16 KiB`);
  }

  await checkExtensions(source, headerLength, clusterSize, signal);

  if (backingFileOffset !== 0) {
    let name = '?';
    if (
      backingFileSize > 0 &&
      backingFileSize <= 1023 &&
      backingFileOffset + backingFileSize <= Math.min(source.size, clusterSize)
    ) {
      name = (await readAt(source, backingFileOffset, backingFileSize, 'backing file name', signal)).toString('utf8');
    }
    throw new DiskFormatUnsupportedError(
      `${what}: qcow2 image has a backing file '${name}'; convert the whole chain into one image first (qemu-img convert)`,
      { backingFile: name },
    );
  }

  assertConvertibleSize(size, what);
  if (l1TableOffset % clusterSize !== 0 || l1TableOffset === 0) {
    throw new DiskCorruptError(`${what}: qcow2 L1 table offset ${l1TableOffset} is not a non-zero cluster boundary`);
  }
  const l2Entries = clusterSize / (extendedL2 ? 16 : 8);
  const needed = Math.ceil(size / (clusterSize * l2Entries));
  if (l1Size < needed) {
    throw new DiskCorruptError(
      `${what}: qcow2 L1 table has ${l1Size} entries, ${needed} are needed for the virtual size`,
      { l1Size, needed },
    );
  }
  if (needed * 8 > MAX_L1_BYTES) {
    throw new DiskFormatUnsupportedError(`${what}: qcow2 L1 table of ${needed * 8} bytes exceeds the 32 MiB limit`);
  }
  if (l1TableOffset + needed * 8 > source.size) {
    throw new DiskCorruptError(`${what}: qcow2 L1 table lies beyond the end of the file (truncated?)`, {
      l1TableOffset,
      size: source.size,
    });
  }
  return {
    version,
    clusterBits,
    clusterSize,
    size,
    l1Size: needed,
    l1TableOffset,
    extendedL2,
    compression,
    headerLength,
    dirty: (incompatible & INCOMPAT_DIRTY) !== 0n,
  };
}

/**
 * Header extensions live in the first cluster; we refuse encryption and external data, and skip the rest
 * (backing format, feature names, bitmaps: irrelevant to reading the active image without a backing file).
 */
async function checkExtensions(
  source: ByteSource,
  start: number,
  clusterSize: number,
  signal?: AbortSignal,
): Promise<void> {
  const end = Math.min(clusterSize, source.size);
  if (start + 8 > end) return;
  const area = await readAt(source, 0, end, 'qcow2 header extensions', signal);
  let off = start;
  while (off + 8 <= end) {
    const type = area.readUInt32BE(off);
    const length = area.readUInt32BE(off + 4);
    if (type === EXT_END) return;
    if (off + 8 + length > end)
      throw new DiskCorruptError(
        `${source.description}: qcow2 header extension 0x${type.toString(16)} overruns the header cluster`,
      );
    if (type === EXT_FULL_DISK_ENCRYPTION) {
      throw new DiskFormatUnsupportedError(
        `${source.description}: qcow2 image is encrypted (full-disk encryption header); decrypt it first`,
      );
    }
    if (type === EXT_EXTERNAL_DATA_FILE) {
      const name = area.toString('utf8', off + 8, off + 8 + length);
      throw new DiskFormatUnsupportedError(
        `${source.description}: qcow2 image keeps its data in an external data file '${name}', which is not supported`,
      );
    }
    off += 8 + Math.ceil(length / 8) * 8;
  }
}
