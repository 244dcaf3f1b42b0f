// The contract between the XAPI lab (src/lab/xapi, which owns VMs, disks and power states) and the simulated
// guests (src/lab/guest, which play the OS inside a VM). The lab implements LabHostApi; guests only use it.
// Everything a guest "does" to its VM goes through here, so XAPI clients see the same records and events as
// they would on a real host.

export type PowerState = 'Halted' | 'Paused' | 'Running' | 'Suspended';

export interface LabCdrom {
  userdevice: string;
  /** Host path of the ISO file inserted in this drive, or null when the drive is empty. */
  isoPath: string | null;
  /** name_label of the inserted ISO VDI, or null. */
  isoName: string | null;
}

export interface LabVmView {
  ref: string;
  uuid: string;
  nameLabel: string;
  powerState: PowerState;
  /** `hvm` or `pv` (from domain_type / HVM_boot_policy). */
  domainType: 'hvm' | 'pv';
  platform: Readonly<Record<string, string>>;
  otherConfig: Readonly<Record<string, string>>;
  cdroms: readonly LabCdrom[];
  /** The VDI behind the Disk VBD with userdevice "0", if any. */
  systemDisk: { vdiRef: string; virtualSize: number } | null;
  vifs: ReadonlyArray<{ device: string; mac: string; network: string }>;
  /**
   * The loopback address the lab gives this VM (127.x.y.z) for its current boot; a guest listens only there.
   * A scenario may make it change at every domain start (as DHCP does), so a guest re-reads it on each boot.
   */
  address: string;
  /**
   * Further addresses of this boot, reported by the PV agent after `address`: an IPv4 address per further VIF
   * (device "1", …), and with the scenario's `vmAddresses.ipv6` an IPv6 address per VIF (unique local addresses,
   * reported but not routable from the host). Empty for a VM with one VIF and no IPv6.
   */
  extraAddresses: ReadonlyArray<{ device: string; family: 'ipv4' | 'ipv6'; address: string }>;
  /** HVM_boot_params:firmware ("bios" when unset, as XAPI defaults). */
  firmware: 'bios' | 'uefi';
  /**
   * Secure Boot is enforced this boot: UEFI firmware, platform:secureboot true, and keys enrolled in the VM's
   * variable store (varstored enrols the pool's at the first boot with Secure Boot on; without them the VM is in
   * setup mode). XAPI does not refuse platform:secureboot under BIOS: it means nothing there.
   */
  secureBoot: boolean;
  /** A VTPM object is attached to the VM (VM.VTPMs non-empty). */
  vtpm: boolean;
  /** VM.has_vendor_device: the Citrix/XenServer PCI vendor device that Windows Update drivers bind to. */
  hasVendorDevice: boolean;
}

export type PowerEventKind = 'started' | 'halted' | 'rebooted';

export interface PowerEvent {
  kind: PowerEventKind;
  /** `api` = a XAPI call (start, clean/hard shutdown, reboot, revert); `guest` = the guest itself. */
  cause: 'api' | 'guest';
  /** For halts through XAPI: hard (power cut) or clean (the guest was asked to shut down). */
  hard?: boolean;
  vm: LabVmView;
}

export interface GuestMetricsReport {
  /** e.g. {"0/ip": "127.77.0.5", "0/ipv4/0": "127.77.0.5"} */
  networks: Record<string, string>;
  pvDriversVersion: Record<string, string>;
  pvDriversDetected: boolean;
  osVersion: Record<string, string>;
  /** e.g. {"feature-shutdown": "1", "feature-poweroff": "1", "has-vendor-device": "0"} */
  other: Record<string, string>;
}

export interface LabHostApi {
  /** Subscribes to power changes of every VM; returns the unsubscribe function. */
  onPowerEvent(listener: (event: PowerEvent) => void): () => void;
  getVm(ref: string): LabVmView | undefined;
  listVms(): LabVmView[];
  /** The guest powered itself off (e.g. sysprep /shutdown, `shutdown /s`): Running → Halted, no API call. */
  guestShutdown(vmRef: string): Promise<void>;
  /** The guest rebooted itself: the domain restarts (new domid), guest metrics are cleared until reported again. */
  guestReboot(vmRef: string): Promise<void>;
  /** What the PV agent reports: creates or replaces VM_guest_metrics and links it to the VM. */
  reportGuestMetrics(vmRef: string, report: GuestMetricsReport): Promise<void>;
  /** Positional access to a VDI's real bytes (sparse on the lab's disk). */
  readDisk(vdiRef: string, offset: number, length: number): Promise<Buffer>;
  writeDisk(vdiRef: string, offset: number, data: Buffer): Promise<void>;
  /** Wall-clock latency scaled by the lab's speed factor (1 = realistic, 0.01 = tests). */
  scaled(ms: number): number;
}
