// qcow2 v2/v3 reader: maps guest clusters to host offsets through the L1 and L2 tables, derives the 2 MiB
// allocation map from metadata alone, and reads guest blocks positionally (contiguous host runs coalesced into
// one read, compressed clusters inflated with a bound). Facts: docs/reference/disks.md §5.3.
import { DiskCorruptError } from './errors.js';
import { BLOCK_SIZE, blockCountFor } from './geometry.js';
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
    const out = into ?? Buffer.allocUnsafe(BLOCK_SIZE);
    const { clusterSize, size } = this.header;
    const blockStart = index * BLOCK_SIZE;
    const blockEnd = Math.min(size, blockStart + BLOCK_SIZE);
    const firstCluster = blockStart / clusterSize;
    const lastCluster = Math.ceil(blockEnd / clusterSize) - 1;
    // The L2 tables this block needs (one, unless clusters are tiny), fetched before the synchronous walk.
    const tables: Array<Buffer | undefined> = [];
    const firstL1 = Math.floor(firstCluster / this.l2Entries);
    for (let l1 = firstL1; l1 <= Math.floor(lastCluster / this.l2Entries); l1++) {
      tables.push(this.cachedL2(l1) ?? (await this.l2Table(l1, signal)));
    }
    // Walk the clusters once: host-contiguous data becomes one read, holes are zeroed where they are (never the
    // whole block first: that was a memset of every byte copied), compressed clusters inflate in place.
    const runs: Extent[] = [];
    const compressed: Array<{ outOffset: number; hostOffset: number; length: number; guest: number }> = [];
    let zeroFrom = -1;
    const addData = (outOffset: number, hostOffset: number, length: number) => {
      if (zeroFrom >= 0) {
        out.fill(0, zeroFrom, outOffset);
        zeroFrom = -1;
      }
      const last = runs[runs.length - 1];
      if (last && last.outOffset + last.length === outOffset && last.hostOffset + last.length === hostOffset)
        last.length += length;
      else runs.push({ outOffset, hostOffset, length });
    };
    const addZero = (outOffset: number) => {
      if (zeroFrom < 0) zeroFrom = outOffset;
    };
    const sub = clusterSize / 32;
    for (let cluster = firstCluster; cluster <= lastCluster; cluster++) {
      const outOffset = cluster * clusterSize - blockStart;
      const table = tables[Math.floor(cluster / this.l2Entries) - firstL1];
      if (!table) {
        addZero(outOffset);
        continue;
      }
      const m = this.mapping(table, cluster % this.l2Entries, cluster);
      if (m.kind === 'data') addData(outOffset, m.hostOffset, clusterSize);
      else if (m.kind === 'zero') addZero(outOffset);
      else if (m.kind === 'subclusters') {
        for (let k = 0; k < 32; k++) {
          if (m.allocMask & (1 << k)) addData(outOffset + k * sub, m.hostOffset + k * sub, sub);
          else addZero(outOffset + k * sub);
        }
      } else {
        if (zeroFrom >= 0) {
          out.fill(0, zeroFrom, outOffset);
          zeroFrom = -1;
        }
        compressed.push({ outOffset, hostOffset: m.hostOffset, length: m.length, guest: cluster * clusterSize });
      }
    }
    // Bytes past the virtual size (inside the last cluster) are not guest data; past them the block is zeros.
    if (zeroFrom >= 0) out.fill(0, zeroFrom, blockEnd - blockStart);
    if (blockEnd - blockStart < BLOCK_SIZE) out.fill(0, blockEnd - blockStart);
    const end = blockEnd - blockStart;
    // The runs are independent: issued together, they overlap on the I/O threads. All of them settle before
    // this returns, failed or not: the caller may reuse `out` as soon as it has the answer.
    const reads = Promise.allSettled(
      runs.map((run) =>
        this.source.read(
          out.subarray(run.outOffset, Math.min(end, run.outOffset + run.length)),
          run.hostOffset,
          signal,
        ),
      ),
    );
    let failure: unknown;
    try {
      for (const c of compressed) {
        const raw = await readAt(this.source, c.hostOffset, c.length, 'qcow2 compressed cluster', signal);
        const { decompressCluster } = await import('./qcow2Compressed.js'); // zlib and zstd only when needed
        const cluster = decompressCluster(this.header.compression, raw, clusterSize, this.where(c.guest));
        cluster.copy(out, c.outOffset, 0, Math.min(clusterSize, end - c.outOffset));
      }
    } catch (err) {
      failure = err;
    }
    for (const r of await reads) if (r.status === 'rejected') failure ??= r.reason;
    if (failure !== undefined) throw failure;
    return out;
  }

  /** The L2 table of `l1Index` when cached (no await for the common case), undefined when it must be read. */
  private cachedL2(l1Index: number): Buffer | undefined {
    const offset = this.l2Offsets[l1Index] ?? 0;
    return offset === 0 ? undefined : this.l2Cache.get(offset);
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
