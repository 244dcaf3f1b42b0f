// qcow2 v2/v3 reader: maps guest clusters to host offsets through the L1 and L2 tables, derives the 2 MiB
// allocation map from metadata alone, and reads guest blocks positionally (contiguous host runs coalesced into
// one read, compressed clusters inflated with a bound). Facts: disk-formats.md §5.3.
import { DiskCorruptError } from './errors.js';
import { BLOCK_SIZE, blockCountFor } from './geometry.js';
import { decompressCluster } from './qcow2Compressed.js';
import { readQcow2Header, type Qcow2Header } from './qcow2Header.js';
import { BlockSet, assertBlockIndex, type DiskReader } from './reader.js';
import { readAt, type ByteSource } from './source.js';

const TWO_32 = 2 ** 32;
/** L2 tables kept for block reads (blocks are read in ascending order, so a few suffice). */
const L2_CACHE_BYTES = 8 * 1024 * 1024;

interface Extent {
  outOffset: number;
  hostOffset: number;
  length: number;
}

type ClusterMapping =
  | { kind: 'zero' }
  | { kind: 'data'; hostOffset: number }
  | { kind: 'compressed'; hostOffset: number; length: number }
  | { kind: 'subclusters'; hostOffset: number; allocMask: number };

export class Qcow2Reader implements DiskReader {
  readonly format = 'qcow2' as const;
  readonly virtualSize: number;
  readonly allocatedBlocks: Uint32Array;
  private readonly l2Cache = new Map<number, Buffer>();
  private readonly l2CacheMax: number;
  private readonly l2Entries: number;

  private constructor(
    private readonly source: ByteSource,
    readonly header: Qcow2Header,
    private readonly l2Offsets: Float64Array,
    allocated: Uint32Array,
  ) {
    this.virtualSize = header.size;
    this.allocatedBlocks = allocated;
    this.l2Entries = header.clusterSize / (header.extendedL2 ? 16 : 8);
    this.l2CacheMax = Math.max(4, Math.floor(L2_CACHE_BYTES / header.clusterSize));
  }

  static async open(source: ByteSource, signal?: AbortSignal): Promise<Qcow2Reader> {
    const header = await readQcow2Header(source, signal);
    const l2Offsets = await readL1(source, header, signal);
    const reader = new Qcow2Reader(source, header, l2Offsets, new Uint32Array(0));
    const allocated = await reader.scanAllocation(signal);
    return new Qcow2Reader(source, header, l2Offsets, allocated);
  }

  private where(guestOffset?: number): string {
    return guestOffset === undefined
      ? this.source.description
      : `${this.source.description} (guest offset ${guestOffset})`;
  }

  private async l2Table(l1Index: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    const offset = this.l2Offsets[l1Index] ?? 0;
    if (offset === 0) return undefined;
    const cached = this.l2Cache.get(offset);
    if (cached) {
      this.l2Cache.delete(offset); // LRU: move to the back
      this.l2Cache.set(offset, cached);
      return cached;
    }
    const table = await readAt(this.source, offset, this.header.clusterSize, 'qcow2 L2 table', signal);
    this.l2Cache.set(offset, table);
    if (this.l2Cache.size > this.l2CacheMax) this.l2Cache.delete(this.l2Cache.keys().next().value!);
    return table;
  }

  /** Decodes and validates the L2 entry of guest cluster `cluster` in `table`. */
  private mapping(table: Buffer, index: number, cluster: number): ClusterMapping {
    const { clusterSize, clusterBits, extendedL2 } = this.header;
    const stride = extendedL2 ? 16 : 8;
    const hi = table.readUInt32BE(index * stride);
    const lo = table.readUInt32BE(index * stride + 4);
    const guest = cluster * clusterSize;
    if (hi & 0x40000000) {
      // Compressed: offset in bits 0..x-1, extra sectors in bits x..61 (x = 62 - (cluster_bits - 8)).
      const entry = (BigInt(hi) << 32n) | BigInt(lo);
      const x = BigInt(62 - (clusterBits - 8));
      const hostOffset = Number(entry & ((1n << x) - 1n));
      const sectors = Number((entry >> x) & ((1n << BigInt(clusterBits - 8)) - 1n)) + 1;
      if (hostOffset === 0 || hostOffset >= this.source.size) {
        throw new DiskCorruptError(`${this.where(guest)}: qcow2 compressed cluster points outside the file`, {
          hostOffset,
        });
      }
      // The last compressed cluster may end inside its last sector: the file may stop before the sector does.
      const length = Math.min(sectors * 512 - (hostOffset % 512), this.source.size - hostOffset);
      return { kind: 'compressed', hostOffset, length };
    }
    const hostOffset = (hi & 0x00ffffff) * TWO_32 + ((lo & 0xfffffe00) >>> 0);
    if (extendedL2) {
      const zeroMask = table.readUInt32BE(index * stride + 8);
      const allocMask = table.readUInt32BE(index * stride + 12);
      if ((zeroMask & allocMask) !== 0) {
        throw new DiskCorruptError(`${this.where(guest)}: qcow2 subcluster marked both allocated and zero`);
      }
      if (allocMask === 0) return { kind: 'zero' };
      if (hostOffset === 0)
        throw new DiskCorruptError(`${this.where(guest)}: qcow2 subclusters allocated without a host cluster`);
      // qemu writes only the allocated subclusters: the file may end inside the cluster after the last one.
      this.checkDataCluster(hostOffset, guest, ((32 - Math.clz32(allocMask)) * this.header.clusterSize) / 32);
      return { kind: 'subclusters', hostOffset, allocMask };
    }
    if (lo & 1) return { kind: 'zero' }; // v3 "reads as zero", preallocated or not
    if (hostOffset === 0) return { kind: 'zero' }; // unallocated, no backing file: zeros
    this.checkDataCluster(hostOffset, guest);
    return { kind: 'data', hostOffset };
  }

  private checkDataCluster(hostOffset: number, guest: number, usedBytes = this.header.clusterSize): void {
    const cs = this.header.clusterSize;
    if (hostOffset % cs !== 0) {
      throw new DiskCorruptError(
        `${this.where(guest)}: qcow2 data cluster offset ${hostOffset} is not cluster-aligned`,
        { hostOffset },
      );
    }
    if (hostOffset + usedBytes > this.source.size) {
      throw new DiskCorruptError(
        `${this.where(guest)}: qcow2 data cluster at ${hostOffset} lies beyond the end of the file (${this.source.size} bytes); truncated or corrupt`,
        { hostOffset, size: this.source.size },
      );
    }
  }

  private async scanAllocation(signal?: AbortSignal): Promise<Uint32Array> {
    const { clusterSize, size } = this.header;
    const clusters = Math.ceil(size / clusterSize);
    const blocks = new BlockSet(blockCountFor(size));
    const stride = this.header.extendedL2 ? 16 : 8;
    for (let l1 = 0; l1 < this.l2Offsets.length; l1++) {
      const offset = this.l2Offsets[l1]!;
      if (offset === 0) continue;
      signal?.throwIfAborted();
      // Read directly, not through the cache: the scan touches every table once.
      const table = await readAt(this.source, offset, clusterSize, 'qcow2 L2 table', signal);
      const first = l1 * this.l2Entries;
      const count = Math.min(this.l2Entries, clusters - first);
      for (let j = 0; j < count; j++) {
        if (table.readUInt32BE(j * stride) === 0 && table.readUInt32BE(j * stride + 4) === 0) {
          if (stride === 8 || table.readUInt32BE(j * stride + 12) === 0) continue;
        }
        const m = this.mapping(table, j, first + j);
        if (m.kind !== 'zero') blocks.add(Math.floor(((first + j) * clusterSize) / BLOCK_SIZE));
      }
    }
    return blocks.toSortedArray();
  }

  async readBlock(index: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    assertBlockIndex(this, index);
    const out = into ? into.fill(0) : Buffer.alloc(BLOCK_SIZE);
    const { clusterSize, size } = this.header;
    const blockStart = index * BLOCK_SIZE;
    const blockEnd = Math.min(size, blockStart + BLOCK_SIZE);
    const extents: Extent[] = [];
    const sub = clusterSize / 32;
    for (let guest = blockStart; guest < blockEnd; guest += clusterSize) {
      const cluster = guest / clusterSize;
      const l1 = Math.floor(cluster / this.l2Entries);
      const table = await this.l2Table(l1, signal);
      if (!table) continue;
      const m = this.mapping(table, cluster % this.l2Entries, cluster);
      const outOffset = guest - blockStart;
      if (m.kind === 'data') {
        extents.push({ outOffset, hostOffset: m.hostOffset, length: clusterSize });
      } else if (m.kind === 'subclusters') {
        for (let k = 0; k < 32; k++) {
          if (m.allocMask & (1 << k))
            extents.push({ outOffset: outOffset + k * sub, hostOffset: m.hostOffset + k * sub, length: sub });
        }
      } else if (m.kind === 'compressed') {
        const raw = await readAt(this.source, m.hostOffset, m.length, 'qcow2 compressed cluster', signal);
        decompressCluster(this.header.compression, raw, clusterSize, this.where(guest)).copy(out, outOffset);
      }
    }
    for (const run of coalesce(extents)) {
      await this.source.read(out.subarray(run.outOffset, run.outOffset + run.length), run.hostOffset, signal);
    }
    // Bytes past the virtual size (inside the last cluster) are not guest data.
    if (blockEnd < blockStart + BLOCK_SIZE) out.fill(0, blockEnd - blockStart);
    return out;
  }

  async close(): Promise<void> {
    this.l2Cache.clear();
    await this.source.close();
  }
}

async function readL1(source: ByteSource, header: Qcow2Header, signal?: AbortSignal): Promise<Float64Array> {
  const { l1Size, l1TableOffset, clusterSize } = header;
  const raw = await readAt(source, l1TableOffset, l1Size * 8, 'qcow2 L1 table', signal);
  const offsets = new Float64Array(l1Size);
  const l1End = l1TableOffset + l1Size * 8;
  for (let i = 0; i < l1Size; i++) {
    const hi = raw.readUInt32BE(i * 8);
    const lo = raw.readUInt32BE(i * 8 + 4);
    const offset = (hi & 0x00ffffff) * TWO_32 + ((lo & 0xfffffe00) >>> 0);
    if (offset === 0) continue;
    const where = `${source.description}: qcow2 L1 entry ${i}`;
    if (offset % clusterSize !== 0)
      throw new DiskCorruptError(`${where} points to an unaligned L2 table (${offset})`, { offset });
    if (offset + clusterSize > source.size) {
      throw new DiskCorruptError(
        `${where} points to an L2 table beyond the end of the file (${offset} ≥ ${source.size}); truncated or corrupt`,
        {
          offset,
          size: source.size,
        },
      );
    }
    if (offset < l1End && offset + clusterSize > l1TableOffset)
      throw new DiskCorruptError(`${where}: L2 table overlaps the L1 table`, { offset });
    offsets[i] = offset;
  }
  // Two L1 entries sharing (or overlapping) an L2 table would alias guest ranges: refuse.
  const sorted = offsets.filter((o) => o !== 0).sort();
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]! - sorted[i - 1]! < clusterSize) {
      throw new DiskCorruptError(
        `${source.description}: qcow2 L2 tables overlap (offset ${sorted[i]}); the L1 table loops or is corrupt`,
        {
          offset: sorted[i],
        },
      );
    }
  }
  return offsets;
}

/** Merges extents that are contiguous in both the output block and the file into single reads. */
function coalesce(extents: Extent[]): Extent[] {
  const runs: Extent[] = [];
  for (const e of extents) {
    const last = runs[runs.length - 1];
    if (last && last.outOffset + last.length === e.outOffset && last.hostOffset + last.length === e.hostOffset)
      last.length += e.length;
    else runs.push({ ...e });
  }
  return runs;
}
