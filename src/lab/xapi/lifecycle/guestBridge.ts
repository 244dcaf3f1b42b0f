// The host side of the lab for simulated guests (src/lab/hostApi.ts): what a guest does to its VM — power off,
// reboot, report through its PV agent, read and write its disks — changes the same records and produces the same
// events a real host would. Power changes made through XAPI are announced to the guests here too. The view a guest
// gets holds what its firmware and NICs are for the current boot: UEFI, Secure Boot as enforced (UEFI, the
// platform flag, and keys enrolled in the VM's variable store), a vTPM, the vendor device, and its addresses.
import type { GuestMetricsReport, LabCdrom, LabVmView, PowerEvent, PowerEventKind } from '../../hostApi.js';
import type { GuestHost, LabCore } from '../api/context.js';
import { newRef, newUuid, type Row } from '../db/database.js';
import { NULL_REF, xapiDate } from '../datamodel/types.js';
import { vdiHandle } from './disks.js';
import { secureBootEnforced } from './uefi.js';
import { isHvm } from './hvm.js';
import { domainHalted, domainRebooted } from './power.js';

export class GuestBridge implements GuestHost {
  private readonly listeners = new Set<(event: PowerEvent) => void>();
  private core!: LabCore;

  attach(core: LabCore): void {
    this.core = core;
  }

  onPowerEvent(listener: (event: PowerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells the guests about a power change (kind undefined: nothing a guest sees, e.g. a paused start). */
  emit(kind: PowerEventKind | undefined, cause: 'api' | 'guest', vmRef: string, hard?: boolean): void {
    if (!kind) return;
    const vm = this.getVm(vmRef);
    if (!vm) return;
    const event: PowerEvent = { kind, cause, vm, ...(hard === undefined ? {} : { hard }) };
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.core.log.warn({ err, vm: vmRef, kind }, 'a power event listener failed');
      }
    }
  }

  getVm(ref: string): LabVmView | undefined {
    const vm = this.core.db.get('VM', ref);
    if (!vm || vm.is_a_template === true || vm.is_a_snapshot === true || vm.is_control_domain === true)
      return undefined;
    return this.view(ref, vm);
  }

  listVms(): LabVmView[] {
    const out: LabVmView[] = [];
    for (const [ref] of this.core.db.rows('VM')) {
      const view = this.getVm(ref);
      if (view) out.push(view);
    }
    return out;
  }

  private view(ref: string, vm: Row): LabVmView {
    const { db } = this.core;
    const vbds = (vm.VBDs as string[]).map((r) => db.get('VBD', r)).filter((r): r is Row => r !== undefined);
    const cdroms: LabCdrom[] = vbds
      .filter((v) => v.type === 'CD')
      .sort((a, b) => String(a.userdevice).localeCompare(String(b.userdevice), 'en', { numeric: true }))
      .map((v) => {
        const vdiRef = v.VDI as string;
        const vdi = v.empty === true || vdiRef === NULL_REF ? undefined : db.get('VDI', vdiRef);
        return {
          userdevice: v.userdevice as string,
          isoPath: vdi ? vdiHandle(this.core, vdiRef).path : null,
          isoName: vdi ? (vdi.name_label as string) : null,
        };
      });
    const disk = vbds.find((v) => v.type === 'Disk' && v.userdevice === '0');
    const diskVdi = disk && disk.VDI !== NULL_REF ? db.get('VDI', disk.VDI as string) : undefined;
    return {
      ref,
      uuid: vm.uuid as string,
      nameLabel: vm.name_label as string,
      powerState: vm.power_state as LabVmView['powerState'],
      domainType: isHvm(vm) ? 'hvm' : 'pv',
      platform: { ...(vm.platform as Record<string, string>) },
      otherConfig: { ...(vm.other_config as Record<string, string>) },
      cdroms,
      systemDisk: disk && diskVdi ? { vdiRef: disk.VDI as string, virtualSize: diskVdi.virtual_size as number } : null,
      vifs: (vm.VIFs as string[])
        .map((r) => db.get('VIF', r))
        .filter((r): r is Row => r !== undefined)
        .map((v) => ({ device: v.device as string, mac: v.MAC as string, network: v.network as string })),
      address: this.core.vmAddress(ref),
      extraAddresses: this.core.vmExtraAddresses(ref),
      firmware: (vm.HVM_boot_params as Record<string, string>).firmware === 'uefi' ? 'uefi' : 'bios',
      secureBoot: secureBootEnforced(vm),
      vtpm: (vm.VTPMs as string[]).length > 0,
      hasVendorDevice: vm.has_vendor_device === true,
    };
  }

  private requireRunning(vmRef: string): Row {
    const vm = this.core.db.get('VM', vmRef);
    if (!vm) throw new Error(`no VM ${vmRef}`);
    if (vm.power_state !== 'Running')
      throw new Error(`VM ${vm.name_label as string} is ${String(vm.power_state)}, not Running`);
    return vm;
  }

  async guestShutdown(vmRef: string): Promise<void> {
    this.requireRunning(vmRef);
    // The domain's teardown after the OS powered off.
    await this.core.delay(1000);
    const vm = this.core.db.get('VM', vmRef);
    if (!vm || vm.power_state !== 'Running') return; // halted meanwhile (e.g. a hard shutdown)
    if (vm.actions_after_shutdown === 'restart') domainRebooted(this.core, vmRef, 'guest');
    else domainHalted(this.core, vmRef, 'guest');
  }

  async guestReboot(vmRef: string): Promise<void> {
    this.requireRunning(vmRef);
    await this.core.delay(2000);
    const vm = this.core.db.get('VM', vmRef);
    if (!vm || vm.power_state !== 'Running') return;
    if (vm.actions_after_reboot === 'destroy') domainHalted(this.core, vmRef, 'guest');
    else domainRebooted(this.core, vmRef, 'guest');
  }

  async reportGuestMetrics(vmRef: string, report: GuestMetricsReport): Promise<void> {
    const vm = this.requireRunning(vmRef);
    const { db } = this.core;
    const hotplug = report.pvDriversDetected ? 'yes' : 'unspecified';
    const values = {
      os_version: { ...report.osVersion },
      PV_drivers_version: { ...report.pvDriversVersion },
      PV_drivers_up_to_date: report.pvDriversDetected,
      networks: { ...report.networks },
      other: { ...report.other },
      last_updated: xapiDate(),
      live: true,
      can_use_hotplug_vbd: hotplug,
      can_use_hotplug_vif: hotplug,
      PV_drivers_detected: report.pvDriversDetected,
    };
    const existing = vm.guest_metrics as string;
    if (existing !== NULL_REF && db.get('VM_guest_metrics', existing)) {
      db.set('VM_guest_metrics', existing, values);
    } else {
      const ref = newRef();
      db.insert('VM_guest_metrics', ref, { uuid: newUuid(), other_config: {}, ...values });
      db.set('VM', vmRef, { guest_metrics: ref });
    }
    await Promise.resolve();
  }

  async readDisk(vdiRef: string, offset: number, length: number): Promise<Buffer> {
    return this.core.vdis.read(vdiHandle(this.core, vdiRef), offset, length);
  }

  async writeDisk(vdiRef: string, offset: number, data: Buffer): Promise<void> {
    const vdi = this.core.db.get('VDI', vdiRef);
    if (!vdi) throw new Error(`no VDI ${vdiRef}`);
    if (vdi.read_only === true) throw new Error(`VDI ${vdi.name_label as string} is read-only`);
    await this.core.vdis.write(vdiHandle(this.core, vdiRef), offset, data);
  }

  scaled(ms: number): number {
    return this.core.scaled(ms);
  }
}
