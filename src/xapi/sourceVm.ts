// An existing VM as the from-VM flow sees it: its power state, whether it is PV (Glance's vm_mode "xen") or HVM,
// whether its PV drivers answer (a clean shutdown needs them), and its system disk.
import type { XapiConnection } from './connection.js';
import { findVm, systemDisk } from './lookup.js';
import type { Ref } from './records.js';

export interface SourceVm {
  ref: Ref;
  uuid: string;
  name: string;
  powerState: string;
  /** Glance's vm_mode: "hvm", or "xen" for PV guests. */
  vmMode: 'hvm' | 'xen';
  pvDrivers: boolean;
  systemDisk: { vdi: Ref; virtualSize: number } | null;
}

/** The VM by name or UUID (from the event cache: call conn.barrier() first). */
export function describeVm(conn: XapiConnection, by: { name: string } | { uuid: string }): SourceVm {
  const rec = findVm(conn, by);
  const pv =
    rec.domain_type === 'pv' ||
    rec.domain_type === 'pv_in_pvh' ||
    rec.domain_type === 'pvh' ||
    (rec.domain_type === 'unspecified' && rec.HVM_boot_policy === '');
  const gm = conn.cached('VM_guest_metrics', rec.guest_metrics);
  const disk = systemDisk(conn, rec.$ref);
  return {
    ref: rec.$ref,
    uuid: rec.uuid,
    name: rec.name_label,
    powerState: rec.power_state,
    vmMode: pv ? 'xen' : 'hvm',
    pvDrivers: gm !== undefined && (gm.PV_drivers_detected || gm.PV_drivers_version.major !== undefined),
    systemDisk: disk ? { vdi: disk.vdi, virtualSize: disk.virtualSize } : null,
  };
}
