// Which 2 MiB blocks of a VDI hold data: the granularity of VHD-based SRs (blktap's VHD_BLOCK_SIZE), so a VHD
// export emits exactly these blocks. Kept as a bitmap beside the sparse data file.

export const BLOCK_SIZE = 2 * 1024 * 1024;

export class AllocationMap {
  private bits: Uint8Array;

  constructor(
    public blockCount: number,
    bits?: Uint8Array,
  ) {
    this.bits = new Uint8Array(Math.ceil(blockCount / 8));
    if (bits) this.bits.set(bits.subarray(0, this.bits.length));
  }

  static forSize(virtualSize: number): AllocationMap {
    return new AllocationMap(Math.ceil(virtualSize / BLOCK_SIZE));
  }

  has(block: number): boolean {
    return ((this.bits[block >> 3] ?? 0) & (1 << (block & 7))) !== 0;
  }

  mark(block: number): boolean {
    if (block < 0 || block >= this.blockCount || this.has(block)) return false;
    this.bits[block >> 3] = (this.bits[block >> 3] ?? 0) | (1 << (block & 7));
    return true;
  }

  /** Marks every block touched by [offset, offset + length). Returns whether anything changed. */
  markRange(offset: number, length: number): boolean {
    if (length <= 0) return false;
    let changed = false;
    const last = Math.floor((offset + length - 1) / BLOCK_SIZE);
    for (let b = Math.floor(offset / BLOCK_SIZE); b <= last; b++) changed = this.mark(b) || changed;
    return changed;
  }

  resize(virtualSize: number): void {
    const count = Math.ceil(virtualSize / BLOCK_SIZE);
    const bits = new Uint8Array(Math.ceil(count / 8));
    bits.set(this.bits.subarray(0, bits.length));
    // Drop bits beyond the new end when shrinking.
    for (let b = count; b < bits.length * 8; b++) bits[b >> 3] = (bits[b >> 3] ?? 0) & ~(1 << (b & 7));
    this.bits = bits;
    this.blockCount = count;
  }

  allocated(): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.blockCount; b++) if (this.has(b)) out.push(b);
    return out;
  }

  get allocatedCount(): number {
    let n = 0;
    for (let b = 0; b < this.blockCount; b++) if (this.has(b)) n++;
    return n;
  }

  toJSON(): { blocks: number; bits: string } {
    return { blocks: this.blockCount, bits: Buffer.from(this.bits).toString('base64') };
  }

  static fromJSON(data: { blocks: number; bits: string }): AllocationMap {
    return new AllocationMap(data.blocks, new Uint8Array(Buffer.from(data.bits, 'base64')));
  }

  clone(): AllocationMap {
    return new AllocationMap(this.blockCount, this.bits);
  }
}
