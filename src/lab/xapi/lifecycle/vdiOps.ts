// VDI-level operations shared by the VM and VDI calls: create with storage, copy-on-write-like clones and
// snapshots (real copies of the allocated blocks), destroy, and the space accounting SRs report.
import type { LabCore } from '../api/context.js';
import { apiError } from '../api/errors.js';
import { newUuid, type Row } from '../db/database.js';
import { NULL_REF, xapiDate } from '../datamodel/types.js';
import { BLOCK_SIZE } from '../storage/allocation.js';
import { roundToBlock, vdiHandle } from './disks.js';
import { deleteVbdRow, deleteVdiRow, insertVdi, refreshVdi } from './links.js';

/** VHD metadata an empty thin VDI occupies (footer, header, BAT), as ext SRs report it. */
const VHD_OVERHEAD = 3 * 512 + 4096;

export interface NewVdi {
  SR: string;
  virtual_size: number;
  type: string;
  name_label?: string;
  name_description?: string;
  sharable?: boolean;
  read_only?: boolean;
  other_config?: Record<string, string>;
  sm_config?: Record<string, string>;
  xenstore_data?: Record<string, string>;
  tags?: string[];
}

function srRow(core: LabCore, srRef: string): Row {
  return core.db.require('SR', srRef);
}

/** Creates a VDI and its (sparse, empty) storage. Sizes round up to 2 MiB on VHD-based SRs. */
export async function createVdi(core: LabCore, spec: NewVdi): Promise<string> {
  const sr = srRow(core, spec.SR);
  if (sr.type === 'iso') throw apiError('SR_OPERATION_NOT_SUPPORTED', spec.SR);
  if (spec.type === 'cbt_metadata') throw apiError('VDI_INCOMPATIBLE_TYPE', NULL_REF, spec.type);
  if (spec.virtual_size < 0) throw apiError('INVALID_VALUE', 'virtual_size', String(spec.virtual_size));
  const size = roundToBlock(spec.virtual_size);
  if (sr.type === 'lvm') {
    const free = (sr.physical_size as number) - (sr.physical_utilisation as number);
    if (size > free) throw apiError('SR_FULL', String(size), String(free));
  }
  const uuid = newUuid();
  const ref = insertVdi(core.db, {
    uuid,
    name_label: spec.name_label ?? '',
    name_description: spec.name_description ?? '',
    SR: spec.SR,
    virtual_size: size,
    physical_utilisation: sr.type === 'lvm' ? size + VHD_OVERHEAD : VHD_OVERHEAD,
    type: spec.type,
    sharable: spec.sharable ?? false,
    read_only: spec.read_only ?? false,
    other_config: spec.other_config ?? {},
    sm_config: { ...(spec.sm_config ?? {}), vdi_type: 'vhd' },
    xenstore_data: spec.xenstore_data ?? {},
    tags: spec.tags ?? [],
    location: uuid,
    managed: true,
    on_boot: 'persist',
    allow_caching: false,
  });
  await core.vdis.create(vdiHandle(core, ref));
  await updateSrUsage(core, spec.SR);
  return ref;
}

/** A new VDI with the same contents (VDI.clone, VM.clone/copy, VDI.snapshot when `snapshot`). */
export async function cloneVdi(
  core: LabCore,
  srcRef: string,
  options: { sr?: string; snapshot?: boolean } = {},
): Promise<string> {
  const { db } = core;
  const src = db.require('VDI', srcRef);
  const targetSr = options.sr && options.sr !== NULL_REF ? options.sr : (src.SR as string);
  const sr = srRow(core, targetSr);
  if (sr.type === 'iso') throw apiError('OPERATION_NOT_ALLOWED', "Cannot copy a VM's disks to an ISO SR");
  const uuid = newUuid();
  const size = src.virtual_size as number;
  const ref = insertVdi(db, {
    uuid,
    name_label: src.name_label,
    name_description: src.name_description,
    SR: targetSr,
    virtual_size: size,
    physical_utilisation: src.physical_utilisation,
    type: src.type,
    sharable: src.sharable,
    read_only: src.read_only,
    other_config: { ...(src.other_config as Record<string, string>) },
    sm_config: { ...(src.sm_config as Record<string, string>) },
    xenstore_data: { ...(src.xenstore_data as Record<string, string>) },
    tags: [...(src.tags as string[])],
    location: uuid,
    managed: true,
    on_boot: src.on_boot,
    allow_caching: src.allow_caching,
    is_a_snapshot: options.snapshot === true,
    snapshot_of: options.snapshot === true ? srcRef : NULL_REF,
    snapshot_time: options.snapshot === true ? xapiDate() : '19700101T00:00:00Z',
  });
  try {
    await core.vdis.clone(vdiHandle(core, srcRef), vdiHandle(core, ref));
  } catch (err) {
    deleteVdiRow(db, ref);
    throw apiError('VDI_IO_ERROR', `Device I/O errors: ${(err as Error).message}`);
  }
  await updateSrUsage(core, targetSr);
  return ref;
}

/** VDI.destroy semantics: refused while attached; destroys the VBDs that pointed to it; removes the data. */
export async function destroyVdi(core: LabCore, vdiRef: string): Promise<void> {
  const { db } = core;
  const vdi = db.require('VDI', vdiRef);
  const sr = srRow(core, vdi.SR as string);
  if (sr.type === 'iso') throw apiError('SR_OPERATION_NOT_SUPPORTED', vdi.SR as string);
  const vbds = vdi.VBDs as string[];
  if (vbds.some((v) => db.get('VBD', v)?.currently_attached === true)) throw apiError('VDI_IN_USE', vdiRef, 'destroy');
  for (const v of vbds) {
    const ops = Object.entries((db.get('VBD', v)?.current_operations ?? {}) as Record<string, string>);
    if (ops.length > 0) throw apiError('OTHER_OPERATION_IN_PROGRESS', 'VDI', vdiRef, ops[0]![1], ops[0]![0]);
  }
  const handle = vdiHandle(core, vdiRef);
  for (const v of vbds) deleteVbdRow(db, v);
  deleteVdiRow(db, vdiRef);
  await core.vdis.destroy(handle);
  await updateSrUsage(core, vdi.SR as string);
}

/** Recomputes a VDI's physical_utilisation from its allocated blocks (thin SRs) after its contents changed. */
export async function updateVdiUsage(core: LabCore, vdiRef: string): Promise<void> {
  const vdi = core.db.get('VDI', vdiRef);
  if (!vdi) return;
  const sr = core.db.get('SR', vdi.SR as string);
  if (!sr || sr.type !== 'ext') return;
  const map = await core.vdis.allocation(vdiHandle(core, vdiRef));
  if (!core.db.get('VDI', vdiRef)) return;
  core.db.set('VDI', vdiRef, { physical_utilisation: map.allocatedCount * (BLOCK_SIZE + 512) + VHD_OVERHEAD });
  refreshVdi(core.db, vdiRef);
  await updateSrUsage(core, vdi.SR as string);
}

/** SR accounting: virtual_allocation = sum of virtual sizes; physical_utilisation = sum of VDI usage. */
export async function updateSrUsage(core: LabCore, srRef: string): Promise<void> {
  await Promise.resolve();
  const sr = core.db.get('SR', srRef);
  if (!sr) return;
  let virtual = 0;
  let physical = 0;
  for (const vdiRef of sr.VDIs as string[]) {
    const vdi = core.db.get('VDI', vdiRef);
    if (!vdi) continue;
    virtual += vdi.virtual_size as number;
    physical += vdi.physical_utilisation as number;
  }
  if (sr.virtual_allocation !== virtual || sr.physical_utilisation !== physical) {
    core.db.set('SR', srRef, { virtual_allocation: virtual, physical_utilisation: physical });
  }
}
