// VBD calls (xapi_vbd.ml, xapi_vbd_helpers.ml): create with XAPI's constructor rules (CDs read-only and the only
// removable media, devices valid and unique, RW only onto writable VDIs), insert/eject of CDs, destroy of
// detached VBDs, plug/unplug on running VMs.
import type { Row } from '../db/database.js';
import { NULL_REF } from '../datamodel/types.js';
import { addToSet, deleteVbdRow, insertVbd, refreshVbd, refreshVdi, removeFromSet } from '../lifecycle/links.js';
import { isHvm } from '../lifecycle/hvm.js';
import type { CallContext, Handler } from './context.js';
import { apiError } from './errors.js';

const MEDIA_LATENCY = 300;

/** The userdevice slots a VBD may use, with the names that alias each (xvdX, hdX, sdX, the number). */
function slotOf(userdevice: string): number | undefined {
  if (/^\d+$/.test(userdevice)) return Number(userdevice);
  const m = /^(?:xvd|hd|sd)([a-p])$/.exec(userdevice);
  return m ? m[1]!.charCodeAt(0) - 97 : undefined;
}

function validDevice(userdevice: string): boolean {
  if (userdevice === 'autodetect' || userdevice === 'fda' || userdevice === 'fdb') return true;
  const slot = slotOf(userdevice);
  return slot !== undefined && slot >= 0 && slot < 255;
}

function usedSlots(ctx: CallContext, vm: Row): Set<string> {
  const used = new Set<string>();
  for (const v of vm.VBDs as string[]) {
    const ud = ctx.core.db.get('VBD', v)?.userdevice as string | undefined;
    if (ud === undefined) continue;
    const slot = slotOf(ud);
    used.add(slot === undefined ? ud : String(slot));
  }
  return used;
}

function create(ctx: CallContext, rec: Row): string {
  const { db } = ctx.core;
  const vm = db.require('VM', rec.VM as string);
  const vdiRef = rec.VDI as string;
  const vdi = vdiRef === NULL_REF ? undefined : db.require('VDI', vdiRef);
  const type = rec.type as string;
  if (type === 'CD' && rec.mode !== 'RO') throw apiError('VBD_CDS_MUST_BE_READONLY');
  if (rec.empty === true && type !== 'CD') throw apiError('VBD_NOT_REMOVABLE_MEDIA', 'in constructor');
  if (rec.empty !== true && !vdi) throw apiError('HANDLE_INVALID', 'VDI', vdiRef);
  if (type === 'Floppy' && !isHvm(vm)) throw apiError('NOT_IMPLEMENTED', 'PV floppy');
  if (vdi && rec.mode === 'RW' && vdi.read_only === true) throw apiError('VDI_READONLY', vdiRef);
  let userdevice = rec.userdevice as string;
  if (!validDevice(userdevice)) throw apiError('INVALID_DEVICE', userdevice);
  const used = usedSlots(ctx, vm);
  if (userdevice === 'autodetect') {
    const free = Array.from({ length: 16 }, (_, i) => String(i)).find((d) => !used.has(d));
    if (free === undefined) throw apiError('INVALID_DEVICE', userdevice);
    userdevice = free;
  } else {
    const slot = slotOf(userdevice);
    if (used.has(slot === undefined ? userdevice : String(slot))) throw apiError('DEVICE_ALREADY_EXISTS', userdevice);
  }
  const suspended = vm.power_state === 'Suspended';
  return insertVbd(db, {
    ...rec,
    VDI: rec.empty === true ? NULL_REF : vdiRef,
    userdevice,
    device: suspended ? rec.device : '',
    currently_attached: suspended ? rec.currently_attached : false,
    status_code: 0,
    status_detail: '',
    runtime_properties: {},
    storage_lock: false,
  });
}

function requireCd(ctx: CallContext, vbdRef: string): Row {
  const vbd = ctx.core.db.require('VBD', vbdRef);
  if (vbd.type !== 'CD') throw apiError('VBD_NOT_REMOVABLE_MEDIA', vbdRef);
  return vbd;
}

async function insert(ctx: CallContext, vbdRef: string, vdiRef: string): Promise<string> {
  const { db } = ctx.core;
  const vbd = requireCd(ctx, vbdRef);
  if (vbd.empty !== true) throw apiError('VBD_NOT_EMPTY', vbdRef);
  const vdi = db.require('VDI', vdiRef);
  const vm = db.require('VM', vbd.VM as string);
  if (vm.power_state === 'Suspended')
    throw apiError('VM_BAD_POWER_STATE', vbd.VM as string, 'halted, running', 'suspended');
  if (vdi.managed !== true) throw apiError('VDI_NOT_MANAGED', vdiRef);
  await ctx.core.delay(vm.power_state === 'Running' ? MEDIA_LATENCY : 0, ctx.signal);
  db.set('VBD', vbdRef, { VDI: vdiRef, empty: false });
  addToSet(db, 'VDI', vdiRef, 'VBDs', vbdRef);
  refreshVbd(db, vbdRef);
  refreshVdi(db, vdiRef);
  return '';
}

async function eject(ctx: CallContext, vbdRef: string): Promise<string> {
  const { db } = ctx.core;
  const vbd = requireCd(ctx, vbdRef);
  if (vbd.empty === true) throw apiError('VBD_IS_EMPTY', vbdRef);
  const vm = db.require('VM', vbd.VM as string);
  if (vm.power_state === 'Suspended')
    throw apiError('VM_BAD_POWER_STATE', vbd.VM as string, 'halted, running', 'suspended');
  await ctx.core.delay(vm.power_state === 'Running' ? MEDIA_LATENCY : 0, ctx.signal);
  const vdiRef = vbd.VDI as string;
  db.set('VBD', vbdRef, { VDI: NULL_REF, empty: true });
  removeFromSet(db, 'VDI', vdiRef, 'VBDs', vbdRef);
  refreshVbd(db, vbdRef);
  refreshVdi(db, vdiRef);
  return '';
}

function plugCheck(ctx: CallContext, vbdRef: string, plugging: boolean): Row {
  const { db } = ctx.core;
  const vbd = db.require('VBD', vbdRef);
  const vm = db.require('VM', vbd.VM as string);
  if (vm.power_state !== 'Running')
    throw apiError('VM_BAD_POWER_STATE', vbd.VM as string, 'running', String(vm.power_state).toLowerCase());
  if (isHvm(vm) && vbd.type === 'CD')
    throw apiError('OPERATION_NOT_ALLOWED', 'HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected');
  if (plugging && vbd.currently_attached === true) throw apiError('DEVICE_ALREADY_ATTACHED', vbdRef);
  if (!plugging && vbd.currently_attached !== true) throw apiError('DEVICE_ALREADY_DETACHED', vbdRef);
  return vbd;
}

export const vbdHandlers: Record<string, Handler> = {
  'VBD.create': (ctx, [args]) => create(ctx, args as Row),
  'VBD.destroy': (ctx, [ref]) => {
    const { db } = ctx.core;
    const vbd = db.require('VBD', ref as string);
    if (vbd.currently_attached === true) {
      const vmUuid = db.get('VM', vbd.VM as string)?.uuid as string;
      throw apiError('OPERATION_NOT_ALLOWED', `VBD '${vbd.uuid as string}' still attached to '${vmUuid}'`);
    }
    deleteVbdRow(db, ref as string);
    return '';
  },
  'VBD.insert': (ctx, [vbd, vdi]) => insert(ctx, vbd as string, vdi as string),
  'VBD.eject': (ctx, [vbd]) => eject(ctx, vbd as string),
  'VBD.plug': async (ctx, [ref]) => {
    plugCheck(ctx, ref as string, true);
    await ctx.core.delay(MEDIA_LATENCY, ctx.signal);
    const vbd = ctx.core.db.set('VBD', ref as string, { currently_attached: true });
    if (vbd.device === '')
      ctx.core.db.set('VBD', ref as string, { device: `xvd${String.fromCharCode(97 + Number(vbd.userdevice))}` });
    refreshVbd(ctx.core.db, ref as string);
    return '';
  },
  'VBD.unplug': async (ctx, [ref]) => {
    plugCheck(ctx, ref as string, false);
    await ctx.core.delay(MEDIA_LATENCY, ctx.signal);
    ctx.core.db.set('VBD', ref as string, { currently_attached: false });
    refreshVbd(ctx.core.db, ref as string);
    return '';
  },
  'VBD.unplug_force': async (ctx, [ref]) => {
    plugCheck(ctx, ref as string, false);
    ctx.core.db.set('VBD', ref as string, { currently_attached: false });
    refreshVbd(ctx.core.db, ref as string);
    return Promise.resolve('');
  },
  'VBD.set_mode': (ctx, [ref, mode]) => {
    const { db } = ctx.core;
    const vbd = db.require('VBD', ref as string);
    if (vbd.currently_attached === true) throw apiError('VBD_NOT_UNPLUGGABLE', ref as string);
    if (vbd.type === 'CD' && mode !== 'RO') throw apiError('VBD_CDS_MUST_BE_READONLY');
    db.set('VBD', ref as string, { mode });
    return '';
  },
};
