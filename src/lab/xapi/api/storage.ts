// VDI and SR calls (xapi_vdi.ml, xapi_sr.ml; ISO SR behaviour from xapi-project/sm ISOSR.py): VDIs are created,
// cloned, snapshotted, copied and resized with their real contents; an ISO SR cannot create VDIs and discovers its
// files on SR.scan (name_label = location = file name, read-only, size = file size; the tools ISO of the tools SR
// is_tools_iso with sm_config xs-tools=true).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { newUuid, type Row } from '../db/database.js';
import { NULL_REF } from '../datamodel/types.js';
import { BLOCK_SIZE } from '../storage/allocation.js';
import { roundToBlock, vdiHandle } from '../lifecycle/disks.js';
import { deleteVdiRow, insertVdi, refreshVbd, refreshVdi } from '../lifecycle/links.js';
import { cloneVdi, createVdi, destroyVdi, updateSrUsage, updateVdiUsage } from '../lifecycle/vdiOps.js';
import type { CallContext, Handler, LabCore } from './context.js';
import { apiError } from './errors.js';

async function copyInto(core: LabCore, srcRef: string, dstRef: string): Promise<void> {
  const src = vdiHandle(core, srcRef);
  const dst = vdiHandle(core, dstRef);
  if (dst.virtualSize < src.virtualSize) throw apiError('VDI_TOO_SMALL', dstRef, String(src.virtualSize));
  const map = await core.vdis.allocation(src);
  for (const block of map.allocated()) {
    const data = await core.vdis.read(src, block * BLOCK_SIZE, BLOCK_SIZE);
    await core.vdis.write(dst, block * BLOCK_SIZE, data);
  }
  await updateVdiUsage(core, dstRef);
}

/** Brings an ISO SR's VDIs in line with the files in its folder (SR.scan). */
export async function scanIsoSr(core: LabCore, srRef: string): Promise<void> {
  const { db } = core;
  const sr = db.require('SR', srRef);
  const dir = core.vdis.srDir(sr.uuid as string);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.') && !n.includes('.tmp-'));
  } catch {
    names = [];
  }
  const files = new Map<string, number>();
  for (const name of names) {
    const st = await stat(path.join(dir, name)).catch(() => undefined);
    if (st?.isFile()) files.set(name, st.size);
  }
  const known = new Map<string, string>();
  for (const vdiRef of [...(sr.VDIs as string[])]) {
    const vdi = db.get('VDI', vdiRef);
    if (!vdi) continue;
    const size = files.get(vdi.location as string);
    if (size === undefined) {
      // The file is gone: drives that held it become empty, the record is forgotten.
      for (const vbd of vdi.VBDs as string[]) {
        if (db.get('VBD', vbd)) {
          db.set('VBD', vbd, { VDI: NULL_REF, empty: true });
          refreshVbd(db, vbd);
        }
      }
      deleteVdiRow(db, vdiRef);
      continue;
    }
    known.set(vdi.location as string, vdiRef);
    if (vdi.virtual_size !== size) db.set('VDI', vdiRef, { virtual_size: size, physical_utilisation: size });
  }
  for (const [name, size] of files) {
    if (known.has(name)) continue;
    // ISOSR.py: in the tools SR, the official tools ISO (xs-tools*/guest-tools*) is marked for clients to find.
    const tools = sr.is_tools_sr === true && /^(xs-tools|guest-tools)/.test(name);
    insertVdi(db, {
      uuid: newUuid(),
      name_label: name,
      name_description: '',
      SR: srRef,
      virtual_size: size,
      physical_utilisation: size,
      type: 'user',
      sharable: false,
      read_only: true,
      location: name,
      managed: true,
      sm_config: tools ? { 'xs-tools': 'true' } : {},
      is_tools_iso: tools,
      on_boot: 'persist',
    });
  }
  await updateSrUsage(core, srRef);
}

function vdi(ctx: CallContext, ref: unknown): Row {
  return ctx.core.db.require('VDI', ref as string);
}

export const storageHandlers: Record<string, Handler> = {
  'VDI.create': (ctx, [args]) => {
    const rec = args as Row;
    return createVdi(ctx.core, {
      SR: rec.SR as string,
      virtual_size: rec.virtual_size as number,
      type: rec.type as string,
      name_label: rec.name_label as string,
      name_description: rec.name_description as string,
      sharable: rec.sharable as boolean,
      read_only: rec.read_only as boolean,
      other_config: rec.other_config as Record<string, string>,
      sm_config: rec.sm_config as Record<string, string>,
      xenstore_data: rec.xenstore_data as Record<string, string>,
      tags: rec.tags as string[],
    });
  },
  'VDI.destroy': async (ctx, [ref]) => {
    await destroyVdi(ctx.core, ref as string);
    return '';
  },
  'VDI.snapshot': (ctx, [ref]) => {
    vdi(ctx, ref);
    return cloneVdi(ctx.core, ref as string, { snapshot: true });
  },
  'VDI.clone': (ctx, [ref]) => {
    vdi(ctx, ref);
    return cloneVdi(ctx.core, ref as string);
  },
  'VDI.copy': async (ctx, [ref, sr, _base, into]) => {
    vdi(ctx, ref);
    if (into !== NULL_REF) {
      vdi(ctx, into);
      await copyInto(ctx.core, ref as string, into as string);
      return into;
    }
    ctx.core.db.require('SR', sr as string);
    return cloneVdi(ctx.core, ref as string, { sr: sr as string });
  },
  'VDI.resize': async (ctx, [ref, size]) => {
    const row = vdi(ctx, ref);
    if ((row.VBDs as string[]).some((v) => ctx.core.db.get('VBD', v)?.currently_attached === true))
      throw apiError('VDI_IN_USE', ref as string, 'resize');
    const target = roundToBlock(size as number);
    if (target < (row.virtual_size as number)) throw apiError('VDI_TOO_SMALL', ref as string, String(row.virtual_size));
    await ctx.core.vdis.resize(vdiHandle(ctx.core, ref as string), target);
    ctx.core.db.set('VDI', ref as string, { virtual_size: target });
    await updateSrUsage(ctx.core, row.SR as string);
    return '';
  },
  'VDI.set_name_label': (ctx, [ref, value]) => {
    vdi(ctx, ref);
    ctx.core.db.set('VDI', ref as string, { name_label: value });
    return '';
  },
  'VDI.set_name_description': (ctx, [ref, value]) => {
    vdi(ctx, ref);
    ctx.core.db.set('VDI', ref as string, { name_description: value });
    return '';
  },
  'VDI.set_read_only': (ctx, [ref, value]) => {
    vdi(ctx, ref);
    ctx.core.db.set('VDI', ref as string, { read_only: value });
    return '';
  },
  'VDI.set_sharable': (ctx, [ref, value]) => {
    vdi(ctx, ref);
    ctx.core.db.set('VDI', ref as string, { sharable: value });
    return '';
  },
  'VDI.set_on_boot': (ctx, [ref, value]) => {
    vdi(ctx, ref);
    ctx.core.db.set('VDI', ref as string, { on_boot: value });
    refreshVdi(ctx.core.db, ref as string);
    return '';
  },
  'VDI.set_allow_caching': (ctx, [ref, value]) => {
    vdi(ctx, ref);
    ctx.core.db.set('VDI', ref as string, { allow_caching: value });
    return '';
  },
  'SR.scan': async (ctx, [ref]) => {
    const sr = ctx.core.db.require('SR', ref as string);
    await ctx.core.delay(500, ctx.signal);
    if (sr.type === 'iso') await scanIsoSr(ctx.core, ref as string);
    else for (const v of sr.VDIs as string[]) await updateVdiUsage(ctx.core, v);
    return '';
  },
  'SR.get_supported_types': () => ['ext', 'lvm', 'iso', 'nfs', 'lvmoiscsi', 'udev'],
  'SR.set_name_label': (ctx, [ref, value]) => {
    ctx.core.db.require('SR', ref as string);
    ctx.core.db.set('SR', ref as string, { name_label: value });
    return '';
  },
  'SR.set_name_description': (ctx, [ref, value]) => {
    ctx.core.db.require('SR', ref as string);
    ctx.core.db.set('SR', ref as string, { name_description: value });
    return '';
  },
};
