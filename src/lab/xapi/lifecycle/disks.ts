// From a VDI ref to its bytes: the SR folder and data file behind it.
import type { LabCore } from '../api/context.js';
import type { VdiHandle } from '../storage/vdiStore.js';

export function vdiHandle(core: LabCore, vdiRef: string): VdiHandle {
  const vdi = core.db.require('VDI', vdiRef);
  const sr = core.db.require('SR', vdi.SR as string);
  return core.vdis.handle(sr.uuid as string, sr.type as string, {
    uuid: vdi.uuid as string,
    location: vdi.location as string,
    virtual_size: vdi.virtual_size as number,
  });
}

export function isIsoSr(core: LabCore, srRef: string): boolean {
  return core.db.get('SR', srRef)?.type === 'iso';
}

/** VHD-based SRs (ext, lvm) round sizes up to whole 2 MiB blocks (xapi-project/sm vhdutil.py VHD_BLOCK_SIZE). */
export function roundToBlock(size: number): number {
  const block = 2 * 1024 * 1024;
  return Math.ceil(size / block) * block;
}
