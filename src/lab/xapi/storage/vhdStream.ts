// Streaming VHD export (a dynamic VHD holding only the given blocks, written in one sequential pass, laid out as
// XAPI's vhd-tool streams it: mirage/ocaml-vhd vhd_format/f.ml `vhd_from_raw`) and VHD import (parsing a dynamic
// VHD as it arrives: footer, header, BAT, then the blocks in file order).
import { Readable } from 'node:stream';
import { BLOCK_SIZE } from './allocation.js';
import {
  BITMAP_SIZE,
  blockCount,
  buildFooter,
  buildHeader,
  DISK_TYPE,
  FOOTER_SIZE,
  HEADER_SIZE,
  parseFooter,
  parseHeader,
  SECTOR,
  VhdFormatError,
} from './vhd.js';

const pad512 = (n: number) => Math.ceil(n / SECTOR) * SECTOR;
const TABLE_OFFSET = 2048;

export interface VhdExportSource {
  size: number;
  /** Block indexes to emit, ascending. */
  blocks: readonly number[];
  /** Reads block `i` (up to 2 MiB; shorter at the end of the disk). */
  readBlock(index: number): Promise<Buffer>;
}

/** Exact byte length of the VHD `vhdExport` produces. */
export function vhdExportLength(size: number, blocks: number): number {
  return TABLE_OFFSET + pad512(blockCount(size) * 4) + blocks * (BITMAP_SIZE + BLOCK_SIZE) + FOOTER_SIZE;
}

export function vhdExport(src: VhdExportSource): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    const entries = blockCount(src.size);
    // vhd-tool's layout: footer copy, header, one empty sector (room for parent locators), BAT at 2048.
    const tableOffset = TABLE_OFFSET;
    const batBytes = pad512(entries * 4);
    const bat = Buffer.alloc(batBytes, 0xff);
    let sector = (tableOffset + batBytes) / SECTOR;
    for (const index of src.blocks) {
      bat.writeUInt32BE(sector, index * 4);
      sector += (BITMAP_SIZE + BLOCK_SIZE) / SECTOR;
    }
    const footer = buildFooter(src.size);
    yield footer;
    yield buildHeader(src.size, tableOffset);
    yield Buffer.alloc(tableOffset - FOOTER_SIZE - HEADER_SIZE);
    yield bat;
    const bitmap = Buffer.alloc(BITMAP_SIZE, 0xff);
    for (const index of src.blocks) {
      const data = await src.readBlock(index);
      yield bitmap;
      yield data;
      if (data.length < BLOCK_SIZE) yield Buffer.alloc(BLOCK_SIZE - data.length);
    }
    yield footer;
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: BLOCK_SIZE });
}

export class PrematureEndError extends Error {}

/** Sequential reads of exact sizes over a stream of chunks. */
export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Why the source stopped early; raised once what it delivered before has been read. */
  private failure: unknown;
  position = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.source.next();
      } catch (err) {
        this.ended = true;
        this.failure = err;
        break;
      }
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
  }

  /** Up to `n` bytes (fewer only at the end of the stream; a broken stream's error once its bytes are read). */
  async readUpTo(n: number): Promise<Buffer> {
    await this.fill(n);
    const take = Math.min(n, this.buffered);
    if (take === 0 && this.failure !== undefined) throw this.failure;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, take);
    const rest = all.subarray(take);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    this.position += take;
    return out;
  }

  async read(n: number): Promise<Buffer> {
    const out = await this.readUpTo(n);
    if (out.length < n) throw this.failure ?? new PrematureEndError(`the stream ended after ${this.position} bytes`);
    return out;
  }

  async skipTo(offset: number): Promise<void> {
    if (offset < this.position)
      throw new VhdFormatError(`VHD structure at ${offset} precedes the read position ${this.position}`);
    while (this.position < offset) await this.read(Math.min(offset - this.position, BLOCK_SIZE));
  }

  /** Reads and discards everything left; returns how many bytes that was. */
  async drain(): Promise<number> {
    let n = 0;
    for (;;) {
      const b = await this.readUpTo(BLOCK_SIZE);
      if (b.length === 0) return n;
      n += b.length;
    }
  }
}

export interface VhdImportTarget {
  capacity: number;
  write(offset: number, data: Buffer): Promise<void>;
}

/** Writes the allocated blocks of a streamed dynamic VHD; sectors absent from a block's bitmap read as zeros. */
export async function vhdImport(reader: ByteReader, target: VhdImportTarget): Promise<void> {
  const footer = parseFooter(await reader.read(FOOTER_SIZE));
  if (footer.diskType === DISK_TYPE.differencing)
    throw new VhdFormatError('a differencing VHD cannot be imported without its parent');
  if (footer.diskType !== DISK_TYPE.dynamic) throw new VhdFormatError(`unsupported VHD disk type ${footer.diskType}`);
  if (footer.currentSize > target.capacity)
    throw new VhdFormatError(`the VHD's virtual size ${footer.currentSize} exceeds the VDI's ${target.capacity}`);
  await reader.skipTo(footer.dataOffset);
  const header = parseHeader(await reader.read(HEADER_SIZE));
  if (header.blockSize % SECTOR !== 0 || header.blockSize === 0)
    throw new VhdFormatError(`bad block size ${header.blockSize}`);
  await reader.skipTo(header.tableOffset);
  const bat = await reader.read(header.maxTableEntries * 4);
  const sectorsPerBlock = header.blockSize / SECTOR;
  const bitmapBytes = pad512(Math.ceil(sectorsPerBlock / 8));
  const blocks: Array<{ index: number; offset: number }> = [];
  for (let i = 0; i < header.maxTableEntries; i++) {
    const sector = bat.readUInt32BE(i * 4);
    if (sector !== 0xffffffff) blocks.push({ index: i, offset: sector * SECTOR });
  }
  blocks.sort((a, b) => a.offset - b.offset);
  let end = reader.position;
  for (const block of blocks) {
    await reader.skipTo(block.offset);
    const bitmap = await reader.read(bitmapBytes);
    const data = Buffer.from(await reader.read(header.blockSize));
    for (let s = 0; s < sectorsPerBlock; s++) {
      if (((bitmap[s >> 3] ?? 0) & (0x80 >> (s & 7))) === 0) data.fill(0, s * SECTOR, (s + 1) * SECTOR);
    }
    end = reader.position;
    const start = block.index * header.blockSize;
    if (start >= target.capacity) continue;
    await target.write(start, data.subarray(0, Math.min(data.length, target.capacity - start)));
  }
  // The trailing footer copy ends the VHD: nothing after it is needed (clients may close right after it).
  // Writers that pad before it are read to the end instead.
  await reader.skipTo(end);
  const tail = await reader.readUpTo(FOOTER_SIZE);
  if (tail.length === FOOTER_SIZE && tail.toString('latin1', 0, 8) === 'conectix') return;
  await reader.drain();
}
