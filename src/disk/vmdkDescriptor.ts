// The vmdk descriptor (the text that names a vmdk's extents), parsed by the project before qemu-img ever opens
// the image: it says which other files qemu-img would read. Format: VMware's "Virtual Disk Format 1.1"; the
// facts used are in docs/reference/disks.md. Only what the checks need is read; anything malformed is refused.
import { DiskCorruptError } from './errors.js';

export type VmdkAccess = 'RW' | 'RDONLY' | 'NOACCESS';

export interface VmdkExtent {
  access: VmdkAccess;
  sectors: number;
  type: string;
  /** The file holding the extent, as written in the descriptor (none for ZERO extents). */
  file?: string;
  offset: number;
}

export interface VmdkDescriptor {
  createType: string;
  /** A parent (a snapshot chain) when parentCID is not ffffffff. */
  parentCid: string;
  parentFileNameHint?: string;
  extents: VmdkExtent[];
}

/** Descriptors are small; anything larger is not one. */
export const MAX_DESCRIPTOR_BYTES = 1024 * 1024;

const EXTENT = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/;
const PAIR = /^([A-Za-z0-9_.]+)\s*=\s*(.*)$/;

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

export function parseVmdkDescriptor(text: string, what = 'vmdk descriptor'): VmdkDescriptor {
  if (text.length > MAX_DESCRIPTOR_BYTES) throw new DiskCorruptError(`${what}: larger than a descriptor can be`);
  const body = text.split('\0')[0]!; // an embedded descriptor is padded with NULs
  const fields = new Map<string, string>();
  const extents: VmdkExtent[] = [];
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const extent = EXTENT.exec(line);
    if (extent) {
      const sectors = Number(extent[2]);
      const offset = Number(extent[5] ?? 0);
      if (!Number.isSafeInteger(sectors) || !Number.isSafeInteger(offset))
        throw new DiskCorruptError(`${what}: extent size out of range`);
      extents.push({
        access: extent[1] as VmdkAccess,
        sectors,
        type: extent[3]!,
        ...(extent[4] !== undefined ? { file: extent[4] } : {}),
        offset,
      });
      continue;
    }
    const pair = PAIR.exec(line);
    if (!pair) throw new DiskCorruptError(`${what}: unreadable line "${line.slice(0, 60)}"`);
    fields.set(pair[1]!.toLowerCase(), unquote(pair[2]!));
  }
  const createType = fields.get('createtype');
  if (!createType) throw new DiskCorruptError(`${what}: no createType`);
  if (extents.length === 0) throw new DiskCorruptError(`${what}: no extents`);
  const hint = fields.get('parentfilenamehint');
  return {
    createType,
    parentCid: (fields.get('parentcid') ?? 'ffffffff').toLowerCase(),
    ...(hint !== undefined ? { parentFileNameHint: hint } : {}),
    extents,
  };
}
