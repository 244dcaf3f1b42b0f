// Keeps a simulated Windows' state on its VM's system disk. Layout (bytes):
//   0        MBR with one NTFS partition entry (what a disk partitioner would see)
//   1 MiB    "XIMGWIN1" + u32 JSON length + SHA-256 of the JSON + the JSON state (≤ 7 MiB)
//   spread   "system files": seeded pseudo-random 1 MiB blocks written at install, so an exported disk has
//            real allocated data (a few MiB), not just a header.
//   between  "deleted data": seeded pseudo-random 1 MiB blocks in space the file system considers free (Setup's
//            temporary files), each in a 2 MiB VHD block of its own; the state lists them (`freeGarbage`) so
//            writing zeros over free space can clear exactly them
//            (docs/decisions/windows-0010-smaller-images.md).
import { createCipheriv, createHash } from 'node:crypto';
import type { LabHostApi } from '../hostApi.js';
import type { WindowsState } from './state.js';

const MiB = 1024 * 1024;
const STATE_OFFSET = MiB;
const STATE_MAX = 7 * MiB;
const MAGIC = Buffer.from('XIMGWIN1', 'ascii');
const HEADER = MAGIC.length + 4 + 32;

export async function readState(host: LabHostApi, vdiRef: string): Promise<WindowsState | null> {
  const head = await host.readDisk(vdiRef, STATE_OFFSET, HEADER);
  if (head.length < HEADER || !head.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const len = head.readUInt32LE(MAGIC.length);
  if (len === 0 || len > STATE_MAX - HEADER) return null;
  const json = await host.readDisk(vdiRef, STATE_OFFSET + HEADER, len);
  const sum = createHash('sha256').update(json).digest();
  if (!sum.equals(head.subarray(MAGIC.length + 4, HEADER))) return null; // torn or foreign data: not installed
  return JSON.parse(json.toString('utf8')) as WindowsState;
}

export async function writeState(host: LabHostApi, vdiRef: string, state: WindowsState): Promise<void> {
  const json = Buffer.from(JSON.stringify(state), 'utf8');
  if (json.length > STATE_MAX - HEADER) throw new Error(`simulated Windows state too large (${json.length} bytes)`);
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head);
  head.writeUInt32LE(json.length, MAGIC.length);
  createHash('sha256')
    .update(json)
    .digest()
    .copy(head, MAGIC.length + 4);
  await host.writeDisk(vdiRef, STATE_OFFSET, Buffer.concat([head, json]));
}

/** Erases the state header (a disk wiped by Setup's windowsPE pass before it writes anything). */
export async function wipeState(host: LabHostApi, vdiRef: string): Promise<void> {
  await host.writeDisk(vdiRef, STATE_OFFSET, Buffer.alloc(HEADER));
}

function mbr(virtualSize: number): Buffer {
  const b = Buffer.alloc(512);
  const entry = 446;
  b[entry + 4] = 0x07; // NTFS
  b.writeUInt32LE(2048, entry + 8); // first LBA (1 MiB)
  b.writeUInt32LE(Math.min(0xffffffff, Math.floor(virtualSize / 512) - 2048), entry + 12);
  b[entry] = 0x80; // active
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** Writes the partition table and `blocks` seeded pseudo-random 1 MiB blocks spread over the disk. */
/** Where the system blocks go on a disk of `virtualSize` bytes: first offset and stride. */
function systemLayout(virtualSize: number, blocks: number): { first: number; stride: number } {
  const first = 8 * MiB;
  const usable = Math.max(0, virtualSize - first - MiB);
  const stride = Math.max(MiB, Math.floor(usable / blocks / (2 * MiB)) * 2 * MiB);
  return { first, stride };
}

export async function writeSystemBlocks(
  host: LabHostApi,
  vdiRef: string,
  virtualSize: number,
  seed: string,
  blocks = 6,
): Promise<number> {
  await host.writeDisk(vdiRef, 0, mbr(virtualSize));
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const { first, stride } = systemLayout(virtualSize, blocks);
  let written = 0;
  for (let i = 0; i < blocks; i++) {
    const offset = first + i * stride;
    if (offset + MiB > virtualSize) break;
    await host.writeDisk(vdiRef, offset, cipher.update(Buffer.alloc(MiB)));
    written += MiB;
  }
  return written;
}

/** A run of bytes on the disk. */
export interface DiskExtent {
  offset: number;
  length: number;
}

/**
 * Writes `blocks` seeded pseudo-random 1 MiB blocks of deleted data half-way between the system blocks (each in a 2
 * MiB VHD block with nothing else in it), and returns where they are. None on disks too small to keep them apart.
 */
export async function writeFreeGarbage(
  host: LabHostApi,
  vdiRef: string,
  virtualSize: number,
  seed: string,
  blocks = 3,
  systemBlocks = 6,
): Promise<DiskExtent[]> {
  const { first, stride } = systemLayout(virtualSize, systemBlocks);
  if (stride < 4 * MiB) return [];
  const key = createHash('sha256').update(`${seed}/deleted`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const extents: DiskExtent[] = [];
  for (let i = 0; i < Math.min(blocks, systemBlocks); i++) {
    const offset = first + i * stride + Math.floor(stride / (4 * MiB)) * 2 * MiB;
    if (offset + MiB > virtualSize) break;
    await host.writeDisk(vdiRef, offset, cipher.update(Buffer.alloc(MiB)));
    extents.push({ offset, length: MiB });
  }
  return extents;
}

/** Writes zeros over the deleted data (what filling free space with a file of zeros does); returns the bytes. */
export async function zeroFreeGarbage(host: LabHostApi, vdiRef: string, extents: DiskExtent[]): Promise<number> {
  let zeroed = 0;
  for (const e of extents) {
    await host.writeDisk(vdiRef, e.offset, Buffer.alloc(e.length));
    zeroed += e.length;
  }
  return zeroed;
}
