// Snapshot and revert of the build VM, and removal of everything a build left (its VMs, snapshots, their disks,
// imported ISOs). Disks made by provisioning or revert carry no tag of their own until xenimage adds one, so the
// cleanup collects each tagged VM's disks before it destroys the VM (VM.destroy keeps VDIs).
import type { XapiConnection } from './connection.js';
import { hasXapiCode } from './errors.js';
import { systemDisk } from './lookup.js';
import { NULL_REF, type Ref } from './records.js';
import { findTagged, isTagged, tag } from './tags.js';

export interface SnapshotResult {
  snapshot: Ref;
  reused: boolean;
}

/** A snapshot of the VM named `name`, tagged with the build (an existing one of that name is reused). */
export async function ensureSnapshot(
  conn: XapiConnection,
  buildId: string,
  vm: Ref,
  name: string,
  signal?: AbortSignal,
): Promise<SnapshotResult> {
  await conn.barrier();
  const existing = conn
    .cached('VM', vm)
    ?.snapshots.map((s) => conn.cached('VM', s))
    .find((s) => s?.name_label === name && isTagged(s, buildId));
  if (existing) return { snapshot: existing.$ref, reused: true };
  const snapshot = await conn.callAsync<Ref>('VM.snapshot', [vm, name], { signal });
  await tag(conn, 'VM', snapshot, buildId);
  await conn.barrier();
  for (const vdi of diskVdis(conn, snapshot)) await tag(conn, 'VDI', vdi, buildId);
  return { snapshot, reused: false };
}

/** VM.revert (disk VDIs are replaced), then the new system disk, tagged. */
export async function revertTo(
  conn: XapiConnection,
  buildId: string,
  snapshot: Ref,
  signal?: AbortSignal,
): Promise<{ vm: Ref; systemDisk: Ref }> {
  const snap = await conn.fetch('VM', snapshot);
  await conn.callAsync('VM.revert', [snapshot], { signal });
  await conn.barrier();
  const disk = systemDisk(conn, snap.snapshot_of);
  if (!disk) throw new Error(`the VM ${snap.snapshot_of} has no system disk after the revert`);
  for (const vdi of diskVdis(conn, snap.snapshot_of)) await tag(conn, 'VDI', vdi, buildId);
  return { vm: snap.snapshot_of, systemDisk: disk.vdi };
}

/** The VDIs behind a VM's Disk VBDs. */
function diskVdis(conn: XapiConnection, vm: Ref): Ref[] {
  return (conn.cached('VM', vm)?.VBDs ?? [])
    .map((b) => conn.cached('VBD', b))
    .filter((b) => b !== undefined && b.type === 'Disk' && b.VDI !== NULL_REF)
    .map((b) => b!.VDI);
}

export interface CleanupReport {
  vms: string[];
  snapshots: string[];
  vdis: string[];
  /** Tagged VDIs left because something outside the build still uses them. */
  kept: string[];
}

/** Destroys everything tagged with the build: VMs (hard shutdown first), snapshots, their disks, imported ISOs. */
export async function cleanupByTag(
  conn: XapiConnection,
  buildId: string,
  signal?: AbortSignal,
): Promise<CleanupReport> {
  await conn.barrier();
  const report: CleanupReport = { vms: [], snapshots: [], vdis: [], kept: [] };
  const tagged = findTagged(conn, buildId);
  const vdis = new Set<Ref>(tagged.vdis.map((v) => v.$ref));
  for (const vm of [...tagged.vms, ...tagged.snapshots]) for (const vdi of diskVdis(conn, vm.$ref)) vdis.add(vdi);
  for (const vm of tagged.vms) {
    if (vm.power_state !== 'Halted') {
      try {
        await conn.callAsync('VM.hard_shutdown', [vm.$ref], { signal });
      } catch (err) {
        if (!hasXapiCode(err, 'VM_BAD_POWER_STATE')) throw err;
      }
    }
    await destroyVm(conn, vm.$ref, signal);
    report.vms.push(vm.name_label);
  }
  for (const snap of tagged.snapshots) {
    await destroyVm(conn, snap.$ref, signal);
    report.snapshots.push(snap.name_label);
  }
  await conn.barrier();
  for (const ref of vdis) {
    const vdi = conn.cached('VDI', ref);
    if (!vdi) continue;
    const sr = conn.cached('SR', vdi.SR);
    if (sr?.content_type === 'iso') continue; // never delete an ISO library's files
    const usedElsewhere = vdi.VBDs.some((b) => conn.cached('VBD', b)?.currently_attached);
    if (usedElsewhere) {
      report.kept.push(vdi.name_label || vdi.uuid);
      continue;
    }
    try {
      await conn.callAsync('VDI.destroy', [ref], { signal });
      report.vdis.push(vdi.name_label || vdi.uuid);
    } catch (err) {
      if (!hasXapiCode(err, 'HANDLE_INVALID')) throw err;
    }
  }
  return report;
}

async function destroyVm(conn: XapiConnection, vm: Ref, signal?: AbortSignal): Promise<void> {
  try {
    await conn.callAsync('VM.destroy', [vm], { signal });
  } catch (err) {
    if (!hasXapiCode(err, 'HANDLE_INVALID')) throw err;
  }
}
