// VTPM rows and their links (xapi_vtpm.ml): creation with XAPI's checks after the VM operation check, copies for
// clone/copy/snapshot/revert (a new uuid each time, the same is_unique), destruction with the VM's power-state
// check, and allowed_operations (["destroy"] while the VM is halted, xapi_vm_lifecycle.ml). The TPM contents are
// a secret XAPI shows only to local root (VTPM.get_contents is hidden): the lab keeps none.
import type { LabCore } from '../api/context.js';
import { apiError } from '../api/errors.js';
import { newRef, newUuid, type Database } from '../db/database.js';
import { NULL_REF } from '../datamodel/types.js';
import { addToSet, refreshVtpm, removeFromSet } from './links.js';

/** The pool restriction VTPM.create checks: anything but exactly "false" (missing too) restricts. */
export function assertVtpmNotRestricted(core: LabCore): void {
  const restrictions = (core.db.get('pool', core.poolRef)?.restrictions ?? {}) as Record<string, string>;
  if (restrictions.restrict_vtpm !== 'false') throw apiError('FEATURE_RESTRICTED', 'restrict_vtpm');
}

function insertVtpm(db: Database, vmRef: string, isUnique: boolean, persistenceBackend = 'xapi'): string {
  const ref = newRef();
  db.insert('VTPM', ref, {
    uuid: newUuid(),
    VM: vmRef,
    backend: NULL_REF,
    persistence_backend: persistenceBackend,
    is_unique: isUnique,
    is_protected: false,
    allowed_operations: [],
    current_operations: {},
  });
  addToSet(db, 'VM', vmRef, 'VTPMs', ref);
  refreshVtpm(db, ref);
  return ref;
}

/** Xapi_vtpm.create after the `create_vtpm` operation check: restriction, one per VM, halted. */
export function createVtpm(core: LabCore, vmRef: string, isUnique: boolean): string {
  const { db } = core;
  assertVtpmNotRestricted(core);
  const vm = db.require('VM', vmRef);
  const existing = vm.VTPMs as string[];
  if (existing.length > 0) throw apiError('VTPM_MAX_AMOUNT_REACHED', existing.length);
  if (vm.power_state !== 'Halted')
    throw apiError('VM_BAD_POWER_STATE', vmRef, 'halted', String(vm.power_state).toLowerCase());
  return insertVtpm(db, vmRef, isUnique);
}

/** Xapi_vtpm.copy: a new VTPM on `vmRef` like `vtpmRef` (contents copied unless unique: nothing to copy here). */
export function copyVtpm(db: Database, vtpmRef: string, vmRef: string): string {
  const src = db.require('VTPM', vtpmRef);
  return insertVtpm(db, vmRef, src.is_unique === true, src.persistence_backend as string);
}

/** Xapi_vtpm.destroy: the VM must be halted or suspended (the states joined with ";", unlike the VM checks). */
export function destroyVtpm(db: Database, vtpmRef: string): void {
  const vtpm = db.require('VTPM', vtpmRef);
  const vmRef = vtpm.VM as string;
  const power = db.get('VM', vmRef)?.power_state as string | undefined;
  if (power !== undefined && power !== 'Halted' && power !== 'Suspended')
    throw apiError('VM_BAD_POWER_STATE', vmRef, 'halted;suspended', power.toLowerCase());
  removeVtpmRow(db, vtpmRef);
}

/** Removes the row and its link without checks (VM.destroy, a failed copy). */
export function removeVtpmRow(db: Database, vtpmRef: string): void {
  const vtpm = db.get('VTPM', vtpmRef);
  if (!vtpm) return;
  removeFromSet(db, 'VM', vtpm.VM as string, 'VTPMs', vtpmRef);
  db.delete('VTPM', vtpmRef);
}
