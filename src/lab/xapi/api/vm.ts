// VM calls (xapi_vm.ml, xapi_vm_clone.ml, xapi_vm_snapshot.ml, xapi_templates.ml): creation and copies (VTPMs
// copied, NVRAM with the record), provisioning from the `disks` XML, the power state machine with scaled latencies
// (VM.start's firmware, Secure Boot and VTPM rules in lifecycle/boot.ts), snapshot and revert (the snapshot's
// VTPMs copied onto the VM), destroy, memory and VCPU settings with their ordering checks, the NVRAM updaters.
import { randomUUID } from 'node:crypto';
import { newUuid, type Row } from '../db/database.js';
import { NULL_REF, xapiDate } from '../datamodel/types.js';
import {
  addToSet,
  deleteVbdRow,
  deleteVifRow,
  deleteVmRows,
  insertVbd,
  insertVif,
  insertVm,
  macFromSeed,
  refreshVm,
} from '../lifecycle/links.js';
import { prepareBoot } from '../lifecycle/boot.js';
import { domainHalted, domainRebooted, domainStarted } from '../lifecycle/power.js';
import { parseProvisionXml } from '../lifecycle/provision.js';
import { cloneVdi, createVdi, destroyVdi } from '../lifecycle/vdiOps.js';
import { vmOperationError } from '../lifecycle/vmOperations.js';
import { copyVtpm, destroyVtpm } from '../lifecycle/vtpm.js';
import type { CallContext, Handler } from './context.js';
import { apiError, ApiError } from './errors.js';
import { withVmOperation } from './vmOperation.js';

/** Wall-clock latencies of a real host (ms), scaled by the lab's speed factor. */
export const LATENCY = {
  start: 4000,
  cleanShutdown: 6000,
  hardShutdown: 1500,
  reboot: 5000,
  clone: 800,
  /** A full disk copy (VM.copy, ~100 MB/s); a clone or snapshot of a VHD is a tenth of it. */
  diskCopyPerGiB: 10000,
  snapshot: 1500,
  revert: 2000,
  provision: 1000,
  destroy: 300,
} as const;

const vm = (ctx: CallContext, ref: unknown): Row => ctx.core.db.require('VM', ref as string);

/** Fields a copy never takes from its source (identity, runtime state, links rebuilt separately). */
const RUNTIME_FIELDS = [
  'uuid',
  'allowed_operations',
  'current_operations',
  'power_state',
  'resident_on',
  'scheduled_to_be_resident_on',
  'domid',
  'consoles',
  'VIFs',
  'VBDs',
  'VUSBs',
  'crash_dumps',
  'VTPMs',
  'metrics',
  'guest_metrics',
  'snapshots',
  'children',
  'attached_PCIs',
  'VGPUs',
  'memory_overhead',
  'memory_target',
];

function copyableFields(src: Row): Row {
  const out: Row = structuredClone(src);
  for (const f of RUNTIME_FIELDS) delete out[f];
  return out;
}

interface CopyOptions {
  name: string;
  /** VM.copy: full copies of the disks into this SR (NULL keeps each disk's SR). */
  copySr?: string;
  snapshot?: boolean;
  ignoreVdis?: readonly string[];
}

/** Copies a VM record with its VBDs (Disk VDIs cloned/copied/snapshotted, CDs shared) and VIFs. */
async function copyVm(ctx: CallContext, srcRef: string, options: CopyOptions): Promise<string> {
  const { core } = ctx;
  const { db } = core;
  const src = db.require('VM', srcRef);
  const fields = copyableFields(src);
  const otherConfig = { ...(src.other_config as Record<string, string>) };
  if (!options.snapshot) {
    otherConfig.mac_seed = randomUUID();
    delete otherConfig.default_template;
    if (src.is_a_template === true) otherConfig.base_template_name = src.name_label as string;
  }
  const newRef = insertVm(db, {
    ...fields,
    name_label: options.name,
    power_state: 'Halted',
    domid: -1,
    resident_on: NULL_REF,
    other_config: otherConfig,
    is_a_template: options.snapshot ? true : src.is_a_template === true || src.is_a_snapshot === true,
    is_default_template: false,
    is_a_snapshot: options.snapshot === true,
    snapshot_of: options.snapshot ? srcRef : NULL_REF,
    snapshot_time: options.snapshot ? xapiDate() : '19700101T00:00:00Z',
    snapshot_info: options.snapshot ? { 'power-state-at-snapshot': src.power_state as string } : {},
    transportable_snapshot_id: '',
    parent: NULL_REF,
    is_vmss_snapshot: false,
  });
  if (options.snapshot) addToSet(db, 'VM', srcRef, 'snapshots', newRef);
  const created: string[] = [];
  try {
    for (const vbdRef of src.VBDs as string[]) {
      const vbd = db.get('VBD', vbdRef);
      if (!vbd) continue;
      let vdi = vbd.VDI as string;
      if (vbd.type === 'Disk' && vdi !== NULL_REF) {
        if (options.ignoreVdis?.includes(vdi)) continue;
        const size = (db.get('VDI', vdi)?.virtual_size as number) ?? 0;
        await core.delay(
          (LATENCY.diskCopyPerGiB * size) / 2 ** 30 / (options.copySr !== undefined ? 1 : 10),
          ctx.signal,
        );
        vdi = await cloneVdi(core, vdi, { sr: options.copySr, snapshot: options.snapshot });
        created.push(vdi);
      }
      insertVbd(db, vbdCopy(vbd, newRef, vdi));
    }
    for (const vifRef of src.VIFs as string[]) {
      const vif = db.get('VIF', vifRef);
      if (!vif) continue;
      const mac = options.snapshot
        ? (vif.MAC as string)
        : macFromSeed(otherConfig.mac_seed ?? '', vif.device as string);
      insertVif(db, {
        ...copyableFields(vif),
        VM: newRef,
        MAC: mac,
        MAC_autogenerated: !options.snapshot || vif.MAC_autogenerated === true,
        currently_attached: false,
        allowed_operations: ['attach'],
        current_operations: {},
      });
    }
    // Xapi_vtpm.copy for clone, copy and snapshot alike: a new VTPM each, the same is_unique.
    for (const vtpm of src.VTPMs as string[]) if (db.get('VTPM', vtpm)) copyVtpm(db, vtpm, newRef);
  } catch (err) {
    deleteVmRows(db, newRef);
    for (const vdi of created) await destroyVdi(core, vdi).catch(() => undefined);
    throw err;
  }
  refreshVm(db, newRef);
  return newRef;
}

function checkMemoryOrder(
  staticMin: number,
  dynamicMin: number,
  dynamicMax: number,
  staticMax: number,
  dmc: boolean,
): void {
  if (!(staticMin <= dynamicMin && dynamicMin <= dynamicMax && dynamicMax <= staticMax))
    throw apiError('MEMORY_CONSTRAINT_VIOLATION_ORDER');
  if (!dmc && (dynamicMin !== staticMax || dynamicMax !== staticMax))
    throw apiError('MEMORY_CONSTRAINT_VIOLATION_MAXPIN', 'DMC disabled');
}

function dmcEnabled(ctx: CallContext): boolean {
  const restrictions = ctx.core.db.get('pool', ctx.core.poolRef)?.restrictions as Record<string, string> | undefined;
  return restrictions?.restrict_dmc !== 'true';
}

async function memoryChange(
  ctx: CallContext,
  ref: string,
  values: { static_min?: number; static_max?: number; dynamic_min?: number; dynamic_max?: number },
): Promise<string> {
  return withVmOperation(ctx, ref, 'changing_memory_limits', async () => {
    const row = vm(ctx, ref);
    const next = {
      static_min: values.static_min ?? (row.memory_static_min as number),
      static_max: values.static_max ?? (row.memory_static_max as number),
      dynamic_min: values.dynamic_min ?? (row.memory_dynamic_min as number),
      dynamic_max: values.dynamic_max ?? (row.memory_dynamic_max as number),
    };
    checkMemoryOrder(next.static_min, next.dynamic_min, next.dynamic_max, next.static_max, dmcEnabled(ctx));
    ctx.core.db.set('VM', ref, {
      memory_static_min: next.static_min,
      memory_static_max: next.static_max,
      memory_dynamic_min: next.dynamic_min,
      memory_dynamic_max: next.dynamic_max,
    });
    return Promise.resolve('');
  });
}

const VCPU_RULE = 'VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max';

async function start(ctx: CallContext, ref: string, paused: boolean): Promise<string> {
  vm(ctx, ref);
  const err = vmOperationError(ctx.core.db, ref, 'start');
  if (err) throw err;
  return withVmOperation(ctx, ref, 'start', async () => {
    prepareBoot(ctx.core, ref);
    await ctx.core.delay(LATENCY.start, ctx.signal);
    domainStarted(ctx.core, ref, paused);
    return '';
  });
}

async function halt(ctx: CallContext, ref: string, op: 'clean_shutdown' | 'hard_shutdown'): Promise<string> {
  return withVmOperation(
    ctx,
    ref,
    op,
    async () => {
      await ctx.core.delay(op === 'clean_shutdown' ? LATENCY.cleanShutdown : LATENCY.hardShutdown, ctx.signal);
      const row = ctx.core.db.get('VM', ref);
      if (row && row.power_state !== 'Halted') domainHalted(ctx.core, ref, 'api', op === 'hard_shutdown');
      return '';
    },
    { strict: op === 'clean_shutdown' },
  );
}

async function provision(ctx: CallContext, ref: string): Promise<string> {
  const { core } = ctx;
  const { db } = core;
  return withVmOperation(ctx, ref, 'provision', async () => {
    const row = vm(ctx, ref);
    const xml = (row.other_config as Record<string, string>).disks;
    const disks = xml === undefined ? [] : await parseProvisionXml(xml);
    db.set('VM', ref, { is_a_template: false });
    const made: Array<{ vbd: string; vdi: string }> = [];
    try {
      for (const disk of disks) {
        const sr = disk.sr === '' ? undefined : db.findByUuid('SR', disk.sr);
        if (!sr) throw apiError('UUID_INVALID', 'sr', disk.sr);
        await core.delay(LATENCY.provision, ctx.signal);
        const vdi = await createVdi(core, {
          SR: sr,
          virtual_size: disk.size,
          type: disk.type,
          name_label: '',
          name_description: 'Created by template provisioner',
          sm_config: { vmhint: row.uuid as string },
        });
        const vbd = insertVbd(db, {
          VM: ref,
          VDI: vdi,
          userdevice: disk.device,
          bootable: disk.bootable,
          mode: 'RW',
          type: 'Disk',
          unpluggable: disk.type !== 'system',
          empty: false,
          other_config: { owner: '' },
          qos_algorithm_type: '',
          qos_algorithm_params: {},
        });
        made.push({ vbd, vdi });
        db.set('VDI', vdi, { name_label: disk.device });
      }
    } catch (err) {
      for (const m of made) {
        deleteVbdRow(db, m.vbd);
        await destroyVdi(core, m.vdi).catch(() => undefined);
      }
      throw err;
    }
    db.update('VM', ref, (r) => {
      const oc = { ...(r.other_config as Record<string, string>) };
      delete oc.disks;
      delete oc.postinstall;
      r.other_config = oc;
    });
    refreshVm(db, ref);
    return '';
  });
}

async function revert(ctx: CallContext, snapRef: string): Promise<string> {
  const { core } = ctx;
  const { db } = core;
  const snap = db.require('VM', snapRef);
  const err = vmOperationError(db, snapRef, 'revert');
  if (err) throw err;
  const vmRef = snap.snapshot_of as string;
  if (!db.get('VM', vmRef)) throw apiError('VM_REVERT_FAILED', snapRef, vmRef);
  return withVmOperation(ctx, snapRef, 'revert', async () => {
    try {
      const target = vm(ctx, vmRef);
      if (target.power_state !== 'Halted') {
        await core.delay(LATENCY.hardShutdown, ctx.signal);
        domainHalted(core, vmRef, 'api', true);
      }
      await core.delay(LATENCY.revert, ctx.signal);
      const snapDisks = new Set(
        (snap.VBDs as string[])
          .map((v) => db.get('VBD', v)?.VDI as string | undefined)
          .filter((v): v is string => !!v && v !== NULL_REF),
      );
      const snapshotted = new Set([...snapDisks].map((v) => db.get('VDI', v)?.snapshot_of as string));
      // Old disks and drives go; disks this snapshot was taken from are destroyed (new VDIs replace them).
      for (const vbdRef of [...(vm(ctx, vmRef).VBDs as string[])]) {
        const vbd = db.get('VBD', vbdRef);
        if (!vbd) continue;
        deleteVbdRow(db, vbdRef);
        if (vbd.type === 'Disk' && snapshotted.has(vbd.VDI as string)) await destroyVdi(core, vbd.VDI as string);
      }
      for (const vifRef of [...(vm(ctx, vmRef).VIFs as string[])]) deleteVifRow(db, vifRef);
      for (const vbdRef of snap.VBDs as string[]) {
        const vbd = db.get('VBD', vbdRef);
        if (!vbd) continue;
        let vdi = vbd.VDI as string;
        if (vbd.type === 'Disk' && vdi !== NULL_REF) vdi = await cloneVdi(core, vdi);
        insertVbd(db, vbdCopy(vbd, vmRef, vdi));
      }
      for (const vifRef of snap.VIFs as string[]) {
        const vif = db.get('VIF', vifRef);
        if (vif)
          insertVif(db, { ...copyableFields(vif), VM: vmRef, currently_attached: false, current_operations: {} });
      }
      const restore = copyableFields(snap);
      for (const f of [
        'name_label',
        'name_description',
        'is_a_template',
        'is_default_template',
        'is_a_snapshot',
        'snapshot_of',
        'snapshot_time',
        'snapshot_info',
        'snapshot_metadata',
        'transportable_snapshot_id',
        'parent',
        'tags',
        'blocked_operations',
        'is_vmss_snapshot',
      ])
        delete restore[f];
      db.set('VM', vmRef, { ...restore, power_state: 'Halted' });
      // update_vtpm: the VM's VTPMs go, copies of the snapshot's take their place (the snapshot keeps its own).
      for (const vtpm of [...(vm(ctx, vmRef).VTPMs as string[])]) destroyVtpm(db, vtpm);
      for (const vtpm of snap.VTPMs as string[]) if (db.get('VTPM', vtpm)) copyVtpm(db, vtpm, vmRef);
      refreshVm(db, vmRef);
      return '';
    } catch (e) {
      if (e instanceof ApiError && e.code === 'TASK_CANCELLED') throw e;
      core.log.warn({ err: e, snapshot: snapRef }, 'revert failed');
      throw apiError('VM_REVERT_FAILED', snapRef, vmRef);
    }
  });
}

/** A VBD like `vbd` (clone, snapshot, revert), for `vmRef` and `vdi`, detached. */
function vbdCopy(vbd: Row, vmRef: string, vdi: string): Row {
  return {
    VM: vmRef,
    VDI: vdi,
    device: vbd.device,
    userdevice: vbd.userdevice,
    bootable: vbd.bootable,
    mode: vbd.mode,
    type: vbd.type,
    unpluggable: vbd.unpluggable,
    empty: vdi === NULL_REF ? true : vbd.empty,
    other_config: { ...(vbd.other_config as Record<string, string>) },
    qos_algorithm_type: vbd.qos_algorithm_type,
    qos_algorithm_params: { ...(vbd.qos_algorithm_params as Record<string, string>) },
    currently_attached: false,
  };
}

function vbdDevices(ctx: CallContext, ref: string): string[] {
  const used = new Set((vm(ctx, ref).VBDs as string[]).map((v) => ctx.core.db.get('VBD', v)?.userdevice as string));
  return Array.from({ length: 16 }, (_, i) => String(i)).filter((d) => !used.has(d));
}

export const vmHandlers: Record<string, Handler> = {
  'VM.create': (ctx, [args]) => {
    const rec = args as Row;
    checkMemoryOrder(
      rec.memory_static_min as number,
      rec.memory_dynamic_min as number,
      rec.memory_dynamic_max as number,
      rec.memory_static_max as number,
      true,
    );
    if ((rec.VCPUs_at_startup as number) < 1 || (rec.VCPUs_at_startup as number) > (rec.VCPUs_max as number))
      throw apiError('INVALID_VALUE', VCPU_RULE, String(rec.VCPUs_at_startup));
    const otherConfig = { mac_seed: randomUUID(), ...(rec.other_config as Record<string, string>) };
    return insertVm(ctx.core.db, {
      ...rec,
      uuid: newUuid(),
      power_state: 'Halted',
      domid: -1,
      other_config: otherConfig,
    });
  },
  'VM.destroy': (ctx, [ref]) => {
    const row = vm(ctx, ref);
    if (row.is_default_template === true) throw apiError('VM_CANNOT_DELETE_DEFAULT_TEMPLATE', ref as string);
    return withVmOperation(ctx, ref as string, 'destroy', async () => {
      await ctx.core.delay(LATENCY.destroy, ctx.signal);
      deleteVmRows(ctx.core.db, ref as string);
      ctx.core.forgetVm(ref as string);
      return '';
    });
  },
  'VM.clone': (ctx, [ref, name]) =>
    withVmOperation(ctx, ref as string, 'clone', async () => {
      await ctx.core.delay(LATENCY.clone, ctx.signal);
      return copyVm(ctx, ref as string, { name: name as string });
    }),
  'VM.copy': (ctx, [ref, name, sr]) => {
    if (sr !== NULL_REF && ctx.core.db.get('SR', sr as string)?.type === 'iso') {
      throw apiError('OPERATION_NOT_ALLOWED', "Cannot copy a VM's disks to an ISO SR");
    }
    const target = sr !== NULL_REF && ctx.core.db.get('SR', sr as string) ? (sr as string) : NULL_REF;
    return withVmOperation(ctx, ref as string, 'copy', async () => {
      await ctx.core.delay(LATENCY.clone, ctx.signal);
      return copyVm(ctx, ref as string, { name: name as string, copySr: target });
    });
  },
  'VM.snapshot': (ctx, [ref, name, ignore]) =>
    withVmOperation(ctx, ref as string, 'snapshot', async () => {
      await ctx.core.delay(LATENCY.snapshot, ctx.signal);
      return copyVm(ctx, ref as string, { name: name as string, snapshot: true, ignoreVdis: ignore as string[] });
    }),
  'VM.revert': (ctx, [snap]) => revert(ctx, snap as string),
  'VM.provision': (ctx, [ref]) => provision(ctx, ref as string),
  'VM.start': (ctx, [ref, paused]) => start(ctx, ref as string, paused === true),
  'VM.start_on': (ctx, [ref, host, paused]) => {
    ctx.core.db.require('host', host as string);
    return start(ctx, ref as string, paused === true);
  },
  'VM.clean_shutdown': (ctx, [ref]) => halt(ctx, ref as string, 'clean_shutdown'),
  'VM.hard_shutdown': (ctx, [ref]) => halt(ctx, ref as string, 'hard_shutdown'),
  'VM.shutdown': (ctx, [ref]) => {
    const err = vmOperationError(ctx.core.db, ref as string, 'shutdown');
    if (err) throw err;
    const clean =
      vm(ctx, ref).power_state === 'Running' && !vmOperationError(ctx.core.db, ref as string, 'clean_shutdown', true);
    return halt(ctx, ref as string, clean ? 'clean_shutdown' : 'hard_shutdown');
  },
  'VM.clean_reboot': (ctx, [ref]) =>
    withVmOperation(
      ctx,
      ref as string,
      'clean_reboot',
      async () => {
        await ctx.core.delay(LATENCY.reboot, ctx.signal);
        domainRebooted(ctx.core, ref as string, 'api');
        return '';
      },
      { strict: true },
    ),
  'VM.hard_reboot': (ctx, [ref]) =>
    withVmOperation(ctx, ref as string, 'hard_reboot', async () => {
      await ctx.core.delay(LATENCY.reboot / 2, ctx.signal);
      domainRebooted(ctx.core, ref as string, 'api');
      return '';
    }),
  'VM.pause': (ctx, [ref]) =>
    withVmOperation(ctx, ref as string, 'pause', async () => {
      ctx.core.db.set('VM', ref as string, { power_state: 'Paused' });
      return Promise.resolve('');
    }),
  'VM.unpause': (ctx, [ref]) =>
    withVmOperation(ctx, ref as string, 'unpause', async () => {
      ctx.core.db.set('VM', ref as string, { power_state: 'Running' });
      return Promise.resolve('');
    }),
  'VM.set_is_a_template': (ctx, [ref, value]) => {
    const row = vm(ctx, ref);
    if (value === true && row.is_a_template !== true) {
      const err = vmOperationError(ctx.core.db, ref as string, 'make_into_template');
      if (err) throw err;
    }
    ctx.core.db.set(
      'VM',
      ref as string,
      value === true ? { is_a_template: true } : { is_a_template: false, is_default_template: false },
    );
    refreshVm(ctx.core.db, ref as string);
    return '';
  },
  'VM.set_memory_limits': (ctx, [ref, smin, smax, dmin, dmax]) =>
    memoryChange(ctx, ref as string, {
      static_min: smin as number,
      static_max: smax as number,
      dynamic_min: dmin as number,
      dynamic_max: dmax as number,
    }),
  'VM.set_memory': (ctx, [ref, value]) =>
    memoryChange(ctx, ref as string, {
      static_max: value as number,
      dynamic_min: value as number,
      dynamic_max: value as number,
    }),
  'VM.set_memory_static_range': (ctx, [ref, min, max]) =>
    memoryChange(ctx, ref as string, { static_min: min as number, static_max: max as number }),
  'VM.set_memory_dynamic_range': (ctx, [ref, min, max]) =>
    memoryChange(ctx, ref as string, { dynamic_min: min as number, dynamic_max: max as number }),
  'VM.set_memory_static_max': (ctx, [ref, v]) => memoryChange(ctx, ref as string, { static_max: v as number }),
  'VM.set_memory_static_min': (ctx, [ref, v]) => memoryChange(ctx, ref as string, { static_min: v as number }),
  'VM.set_memory_dynamic_max': (ctx, [ref, v]) => memoryChange(ctx, ref as string, { dynamic_max: v as number }),
  'VM.set_memory_dynamic_min': (ctx, [ref, v]) => memoryChange(ctx, ref as string, { dynamic_min: v as number }),
  'VM.set_VCPUs_max': (ctx, [ref, n]) => {
    const row = vm(ctx, ref);
    const err = vmOperationError(ctx.core.db, ref as string, 'changing_VCPUs');
    if (err) throw err;
    if ((n as number) < 1 || (n as number) < (row.VCPUs_at_startup as number))
      throw apiError('INVALID_VALUE', VCPU_RULE, String(n));
    ctx.core.db.set('VM', ref as string, { VCPUs_max: n });
    return '';
  },
  'VM.set_VCPUs_at_startup': (ctx, [ref, n]) => {
    const row = vm(ctx, ref);
    const err = vmOperationError(ctx.core.db, ref as string, 'changing_VCPUs');
    if (err) throw err;
    if ((n as number) < 1 || (n as number) > (row.VCPUs_max as number))
      throw apiError('INVALID_VALUE', VCPU_RULE, String(n));
    ctx.core.db.set('VM', ref as string, { VCPUs_at_startup: n });
    return '';
  },
  'VM.set_HVM_boot_policy': (ctx, [ref, value]) => {
    vm(ctx, ref);
    ctx.core.db.set('VM', ref as string, { HVM_boot_policy: value, domain_type: value === '' ? 'pv' : 'hvm' });
    return '';
  },
  'VM.set_domain_type': (ctx, [ref, value]) => {
    const row = vm(ctx, ref);
    if (row.power_state !== 'Halted')
      throw apiError('VM_BAD_POWER_STATE', ref as string, 'halted', String(row.power_state).toLowerCase());
    ctx.core.db.set('VM', ref as string, {
      domain_type: value,
      HVM_boot_policy: value === 'hvm' ? (row.HVM_boot_policy === '' ? 'BIOS order' : row.HVM_boot_policy) : '',
    });
    return '';
  },
  'VM.set_actions_after_crash': (ctx, [ref, value]) => {
    vm(ctx, ref);
    ctx.core.db.set('VM', ref as string, { actions_after_crash: value });
    return '';
  },
  'VM.set_has_vendor_device': (ctx, [ref, value]) => {
    const row = vm(ctx, ref);
    if (row.power_state !== 'Halted')
      throw apiError('VM_BAD_POWER_STATE', ref as string, 'halted', String(row.power_state).toLowerCase());
    // update_vm_virtual_hardware_platform_version: the vendor device needs platform version 2.
    const version = Math.max(row.hardware_platform_version as number, value === true ? 2 : 0);
    ctx.core.db.set('VM', ref as string, { has_vendor_device: value, hardware_platform_version: version });
    return '';
  },
  // The NVRAM updaters run as the `changing_NVRAM` operation: halted VMs (templates too) only.
  'VM.set_NVRAM': (ctx, [ref, value]) =>
    withVmOperation(ctx, ref as string, 'changing_NVRAM', () => {
      ctx.core.db.set('VM', ref as string, { NVRAM: { ...(value as Record<string, string>) } });
      return Promise.resolve('');
    }),
  'VM.add_to_NVRAM': (ctx, [ref, key, value]) =>
    withVmOperation(ctx, ref as string, 'changing_NVRAM', () => {
      const nvram = vm(ctx, ref).NVRAM as Record<string, string>;
      if (Object.hasOwn(nvram, key as string))
        throw apiError('MAP_DUPLICATE_KEY', 'VM', 'NVRAM', ref as string, key as string);
      ctx.core.db.set('VM', ref as string, { NVRAM: { ...nvram, [key as string]: value as string } });
      return Promise.resolve('');
    }),
  'VM.remove_from_NVRAM': (ctx, [ref, key]) =>
    withVmOperation(ctx, ref as string, 'changing_NVRAM', () => {
      const nvram = { ...(vm(ctx, ref).NVRAM as Record<string, string>) };
      if (Object.hasOwn(nvram, key as string)) {
        delete nvram[key as string];
        ctx.core.db.set('VM', ref as string, { NVRAM: nvram });
      }
      return Promise.resolve('');
    }),
  'VM.set_HVM_shadow_multiplier': (ctx, [ref, value]) => {
    const err = vmOperationError(ctx.core.db, ref as string, 'changing_shadow_memory');
    if (err) throw err;
    if ((value as number) < 1) throw apiError('INVALID_VALUE', 'multiplier', String(value));
    ctx.core.db.set('VM', ref as string, { HVM_shadow_multiplier: value });
    return '';
  },
  'VM.set_order': (ctx, [ref, value]) => {
    vm(ctx, ref);
    ctx.core.db.set('VM', ref as string, { order: value });
    return '';
  },
  'VM.set_start_delay': (ctx, [ref, value]) => {
    vm(ctx, ref);
    ctx.core.db.set('VM', ref as string, { start_delay: value });
    return '';
  },
  'VM.set_shutdown_delay': (ctx, [ref, value]) => {
    vm(ctx, ref);
    ctx.core.db.set('VM', ref as string, { shutdown_delay: value });
    return '';
  },
  'VM.get_allowed_VBD_devices': (ctx, [ref]) => vbdDevices(ctx, ref as string),
  'VM.get_allowed_VIF_devices': (ctx, [ref]) => {
    const used = new Set((vm(ctx, ref).VIFs as string[]).map((v) => ctx.core.db.get('VIF', v)?.device as string));
    return Array.from({ length: 7 }, (_, i) => String(i)).filter((d) => !used.has(d));
  },
  'VM.assert_operation_valid': (ctx, [ref, op]) => {
    const err = vmOperationError(ctx.core.db, ref as string, op as string, false);
    if (err) throw err;
    return '';
  },
  'VM.update_allowed_operations': (ctx, [ref]) => {
    vm(ctx, ref);
    refreshVm(ctx.core.db, ref as string);
    return '';
  },
  'VM.power_state_reset': (ctx, [ref]) => {
    const row = vm(ctx, ref);
    if (row.power_state !== 'Halted') domainHalted(ctx.core, ref as string, 'api', true);
    return '';
  },
};
