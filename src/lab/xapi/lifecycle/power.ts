// What a domain starting, stopping or rebooting does to the records (xenopsd events as XAPI applies them):
// power_state, domid, resident_on, VBD/VIF attachment and device names, VM_metrics, guest metrics, and the
// power event the simulated guests listen to. API calls and guest-initiated changes both end here.
import type { LabCore } from '../api/context.js';
import { NULL_REF, xapiDate } from '../datamodel/types.js';
import { seedNvram } from './boot.js';
import { isHvm } from './hvm.js';
import { addToSet, deleteGuestMetrics, refreshVdi, refreshVm, removeFromSet } from './links.js';

/** The device name XAPI gives a VBD at first start: xvda for userdevice 0, xvdd for 3, fda for the floppy. */
export function deviceName(userdevice: string): string {
  if (/^fd[a-z]$/.test(userdevice)) return userdevice;
  const n = Number(userdevice);
  if (Number.isInteger(n) && n >= 0 && n < 26) return `xvd${String.fromCharCode(97 + n)}`;
  return userdevice;
}

function setAttachment(core: LabCore, vmRef: string, attached: boolean): void {
  const { db } = core;
  const vm = db.require('VM', vmRef);
  for (const vbd of vm.VBDs as string[]) {
    const row = db.get('VBD', vbd);
    if (!row) continue;
    const patch: Record<string, unknown> = { currently_attached: attached };
    if (attached && row.device === '') patch.device = deviceName(row.userdevice as string);
    db.set('VBD', vbd, patch);
    if (row.VDI !== NULL_REF) refreshVdi(db, row.VDI as string);
  }
  for (const vif of vm.VIFs as string[]) if (db.get('VIF', vif)) db.set('VIF', vif, { currently_attached: attached });
}

export function domainStarted(core: LabCore, vmRef: string, paused = false): void {
  const { db } = core;
  const vm = db.require('VM', vmRef);
  const host = core.masterRef();
  deleteGuestMetrics(db, vmRef);
  const hvm = isHvm(vm);
  const platform = { ...(vm.platform as Record<string, string>) };
  if (hvm && platform['device-model'] === undefined)
    platform['device-model'] =
      (vm.HVM_boot_params as Record<string, string>).firmware === 'uefi'
        ? 'qemu-upstream-uefi'
        : 'qemu-upstream-compat';
  core.renewVmAddresses(vmRef);
  db.set('VM', vmRef, {
    power_state: paused ? 'Paused' : 'Running',
    domid: core.nextDomid(),
    resident_on: host,
    scheduled_to_be_resident_on: NULL_REF,
    platform,
    domain_type: vm.domain_type === 'unspecified' ? (hvm ? 'hvm' : 'pv') : vm.domain_type,
    memory_target: vm.memory_dynamic_max,
  });
  addToSet(db, 'host', host, 'resident_VMs', vmRef);
  setAttachment(core, vmRef, true);
  seedNvram(core, vmRef);
  const metrics = vm.metrics as string;
  if (db.get('VM_metrics', metrics)) {
    db.set('VM_metrics', metrics, {
      start_time: xapiDate(),
      last_updated: xapiDate(),
      memory_actual: vm.memory_dynamic_max,
      VCPUs_number: vm.VCPUs_at_startup,
      state: [],
      hvm,
      current_domain_type: hvm ? 'hvm' : 'pv',
    });
  }
  refreshVm(db, vmRef);
  core.guests.emit(paused ? undefined : 'started', 'api', vmRef);
}

/** The domain is gone: Halted, domid −1, disks and VIFs detached; device names and the guest metrics ref stay. */
export function domainHalted(core: LabCore, vmRef: string, cause: 'api' | 'guest', hard?: boolean): void {
  const { db } = core;
  const vm = db.require('VM', vmRef);
  db.set('VM', vmRef, { power_state: 'Halted', domid: -1, resident_on: NULL_REF, memory_target: 0 });
  removeFromSet(db, 'host', vm.resident_on as string, 'resident_VMs', vmRef);
  setAttachment(core, vmRef, false);
  const metrics = vm.metrics as string;
  if (db.get('VM_metrics', metrics))
    db.set('VM_metrics', metrics, {
      memory_actual: 0,
      VCPUs_number: 0,
      last_updated: xapiDate(),
      current_domain_type: 'unspecified',
    });
  refreshVm(db, vmRef);
  core.guests.emit('halted', cause, vmRef, hard);
}

/** A new domain replaces the old one: new domid, guest metrics gone until the agent reports again. */
export function domainRebooted(core: LabCore, vmRef: string, cause: 'api' | 'guest'): void {
  const { db } = core;
  const vm = db.require('VM', vmRef);
  deleteGuestMetrics(db, vmRef);
  core.renewVmAddresses(vmRef);
  db.set('VM', vmRef, { domid: core.nextDomid(), power_state: 'Running' });
  seedNvram(core, vmRef);
  const metrics = vm.metrics as string;
  if (db.get('VM_metrics', metrics))
    db.set('VM_metrics', metrics, { start_time: xapiDate(), last_updated: xapiDate() });
  refreshVm(db, vmRef);
  core.guests.emit('rebooted', cause, vmRef);
}
