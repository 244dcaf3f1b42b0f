// Creation and removal of rows that other rows point back to, keeping every cross-link consistent (VM.VBDs ↔
// VBD.VM, VDI.VBDs ↔ VBD.VDI, VM.VIFs ↔ VIF.VM, network.VIFs ↔ VIF.network, SR.VDIs ↔ VDI.SR, VM.snapshots ↔
// snapshot_of, VDI.snapshots ↔ VDI.snapshot_of, VM.VTPMs ↔ VTPM.VM, VM.metrics, VM.guest_metrics), each changed
// row getting its
// own `mod` event, as in XAPI's database.
import { createHash } from 'node:crypto';
import type { Database, Row } from '../db/database.js';
import { newRef, newUuid } from '../db/database.js';
import { NULL_REF, xapiDate } from '../datamodel/types.js';
import { vbdAllowedOperations, vdiAllowedOperations } from './allowedOperations.js';
import { vmAllowedOperations } from './vmOperations.js';

export function addToSet(db: Database, cls: string, ref: string, field: string, value: string): void {
  if (ref === NULL_REF || !db.get(cls, ref)) return;
  const current = db.get(cls, ref)?.[field] as string[];
  if (current.includes(value)) return;
  db.update(cls, ref, (row) => {
    row[field] = [...(row[field] as string[]), value];
  });
}

export function removeFromSet(db: Database, cls: string, ref: string, field: string, value: string): void {
  if (ref === NULL_REF || !db.get(cls, ref)) return;
  const current = db.get(cls, ref)?.[field] as string[];
  if (!current.includes(value)) return;
  db.update(cls, ref, (row) => {
    row[field] = (row[field] as string[]).filter((v) => v !== value);
  });
}

export function insertVm(db: Database, values: Row): string {
  const ref = newRef();
  const metrics = newRef();
  db.insert('VM_metrics', metrics, {
    uuid: newUuid(),
    memory_actual: 0,
    VCPUs_number: 0,
    state: [],
    start_time: '19700101T00:00:00Z',
    install_time: xapiDate(),
    last_updated: '19700101T00:00:00Z',
    hvm: values.domain_type !== 'pv',
    current_domain_type: 'unspecified',
  });
  db.insert('VM', ref, { uuid: newUuid(), ...values, metrics, guest_metrics: NULL_REF });
  refreshVm(db, ref);
  return ref;
}

/** Recomputes the VM's allowed_operations and those of its VBDs (one `mod` each when they change). */
export function refreshVm(db: Database, vmRef: string): void {
  const vm = db.get('VM', vmRef);
  if (!vm) return;
  const ops = vmAllowedOperations(db, vmRef);
  if (JSON.stringify(ops) !== JSON.stringify(vm.allowed_operations)) db.set('VM', vmRef, { allowed_operations: ops });
  for (const vbd of vm.VBDs as string[]) refreshVbd(db, vbd);
  for (const vtpm of vm.VTPMs as string[]) refreshVtpm(db, vtpm);
}

/** vtpm_update_allowed_operations (xapi_vm_lifecycle.ml): destroy only while the VM is halted. */
export function refreshVtpm(db: Database, vtpmRef: string): void {
  const vtpm = db.get('VTPM', vtpmRef);
  if (!vtpm) return;
  const ops = db.get('VM', vtpm.VM as string)?.power_state === 'Halted' ? ['destroy'] : [];
  if (JSON.stringify(ops) !== JSON.stringify(vtpm.allowed_operations))
    db.set('VTPM', vtpmRef, { allowed_operations: ops });
}

export function refreshVbd(db: Database, vbdRef: string): void {
  const vbd = db.get('VBD', vbdRef);
  if (!vbd) return;
  const power = (db.get('VM', vbd.VM as string)?.power_state as string) ?? 'Halted';
  const ops = vbdAllowedOperations(vbd, power);
  if (JSON.stringify(ops) !== JSON.stringify(vbd.allowed_operations))
    db.set('VBD', vbdRef, { allowed_operations: ops });
}

export function refreshVdi(db: Database, vdiRef: string): void {
  const vdi = db.get('VDI', vdiRef);
  if (!vdi) return;
  const attached = (vdi.VBDs as string[]).some((v) => db.get('VBD', v)?.currently_attached === true);
  const iso = db.get('SR', vdi.SR as string)?.type === 'iso';
  const ops = vdiAllowedOperations(vdi, attached, iso);
  if (JSON.stringify(ops) !== JSON.stringify(vdi.allowed_operations))
    db.set('VDI', vdiRef, { allowed_operations: ops });
}

export function insertVdi(db: Database, values: Row): string {
  const ref = newRef();
  const uuid = (values.uuid as string | undefined) ?? newUuid();
  db.insert('VDI', ref, { location: uuid, managed: true, ...values, uuid });
  addToSet(db, 'SR', values.SR as string, 'VDIs', ref);
  if (values.snapshot_of && values.snapshot_of !== NULL_REF)
    addToSet(db, 'VDI', values.snapshot_of as string, 'snapshots', ref);
  refreshVdi(db, ref);
  return ref;
}

/** Removes a VDI row and its links (its VBDs must have been handled by the caller). */
export function deleteVdiRow(db: Database, vdiRef: string): void {
  const vdi = db.get('VDI', vdiRef);
  if (!vdi) return;
  removeFromSet(db, 'SR', vdi.SR as string, 'VDIs', vdiRef);
  removeFromSet(db, 'VDI', vdi.snapshot_of as string, 'snapshots', vdiRef);
  for (const snap of vdi.snapshots as string[]) if (db.get('VDI', snap)) db.set('VDI', snap, { snapshot_of: NULL_REF });
  for (const [vmRef, vm] of db.rows('VM'))
    if (vm.suspend_VDI === vdiRef) db.set('VM', vmRef, { suspend_VDI: NULL_REF });
  db.delete('VDI', vdiRef);
}

export function insertVbd(db: Database, values: Row): string {
  const ref = newRef();
  db.insert('VBD', ref, { uuid: newUuid(), qos_supported_algorithms: [], ...values });
  addToSet(db, 'VM', values.VM as string, 'VBDs', ref);
  if (values.VDI !== NULL_REF) addToSet(db, 'VDI', values.VDI as string, 'VBDs', ref);
  refreshVbd(db, ref);
  if (values.VDI !== NULL_REF) refreshVdi(db, values.VDI as string);
  return ref;
}

export function deleteVbdRow(db: Database, vbdRef: string): void {
  const vbd = db.get('VBD', vbdRef);
  if (!vbd) return;
  removeFromSet(db, 'VM', vbd.VM as string, 'VBDs', vbdRef);
  removeFromSet(db, 'VDI', vbd.VDI as string, 'VBDs', vbdRef);
  db.delete('VBD', vbdRef);
  if (vbd.VDI !== NULL_REF) refreshVdi(db, vbd.VDI as string);
}

/** XAPI derives a VIF's MAC from the VM's `mac_seed` and the device: stable per (seed, device), unicast, locally administered. */
export function macFromSeed(seed: string, device: string): string {
  const digest = createHash('md5').update(`${seed}${device}`).digest();
  const bytes = [...digest.subarray(0, 6)];
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function insertVif(db: Database, values: Row): string {
  const ref = newRef();
  db.insert('VIF', ref, { uuid: newUuid(), qos_supported_algorithms: [], ...values });
  addToSet(db, 'VM', values.VM as string, 'VIFs', ref);
  addToSet(db, 'network', values.network as string, 'VIFs', ref);
  return ref;
}

export function deleteVifRow(db: Database, vifRef: string): void {
  const vif = db.get('VIF', vifRef);
  if (!vif) return;
  removeFromSet(db, 'VM', vif.VM as string, 'VIFs', vifRef);
  removeFromSet(db, 'network', vif.network as string, 'VIFs', vifRef);
  db.delete('VIF', vifRef);
}

export function deleteGuestMetrics(db: Database, vmRef: string): void {
  const vm = db.get('VM', vmRef);
  const gm = vm?.guest_metrics as string | undefined;
  if (!vm || !gm || gm === NULL_REF) return;
  db.set('VM', vmRef, { guest_metrics: NULL_REF });
  db.delete('VM_guest_metrics', gm);
}

/** VM.destroy's cascade: VBDs, VIFs, VTPMs, metrics and guest metrics go; VDIs stay. */
export function deleteVmRows(db: Database, vmRef: string): void {
  const vm = db.get('VM', vmRef);
  if (!vm) return;
  for (const vbd of vm.VBDs as string[]) deleteVbdRow(db, vbd);
  for (const vif of vm.VIFs as string[]) deleteVifRow(db, vif);
  for (const vtpm of vm.VTPMs as string[]) db.delete('VTPM', vtpm);
  deleteGuestMetrics(db, vmRef);
  removeFromSet(db, 'VM', vm.snapshot_of as string, 'snapshots', vmRef);
  for (const snap of vm.snapshots as string[]) if (db.get('VM', snap)) db.set('VM', snap, { snapshot_of: NULL_REF });
  removeFromSet(db, 'host', vm.resident_on as string, 'resident_VMs', vmRef);
  const metrics = vm.metrics as string;
  db.delete('VM', vmRef);
  if (metrics !== NULL_REF) db.delete('VM_metrics', metrics);
}
