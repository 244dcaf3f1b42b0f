// Typed views of the XAPI records xenimage reads (the fields it uses; records carry more). Values are as the
// JSON-RPC transport delivers them: int64 as numbers, datetimes as "YYYYMMDDTHH:MM:SSZ" strings.

export type Ref = string;
export const NULL_REF: Ref = 'OpaqueRef:NULL';

export type PowerState = 'Halted' | 'Paused' | 'Running' | 'Suspended';

interface Common {
  uuid: string;
  other_config: Record<string, string>;
}

export interface PoolRecord extends Common {
  name_label: string;
  master: Ref;
  default_SR: Ref;
  /** Licence restrictions, e.g. restrict_vtpm ("false" = allowed). */
  restrictions: Record<string, string>;
  /** Base64 tar of the Secure Boot *.auth files VMs are seeded from (empty: none). */
  uefi_certificates: string;
}

export interface HostRecord extends Common {
  name_label: string;
  address: string;
  API_version_major: number;
  API_version_minor: number;
  software_version: Record<string, string>;
}

export interface VmRecord extends Common {
  name_label: string;
  name_description: string;
  power_state: PowerState;
  is_a_template: boolean;
  is_default_template: boolean;
  is_a_snapshot: boolean;
  is_control_domain: boolean;
  snapshot_of: Ref;
  snapshots: Ref[];
  VBDs: Ref[];
  VIFs: Ref[];
  guest_metrics: Ref;
  metrics: Ref;
  domid: number;
  memory_static_min: number;
  memory_static_max: number;
  memory_dynamic_min: number;
  memory_dynamic_max: number;
  VCPUs_max: number;
  VCPUs_at_startup: number;
  HVM_boot_policy: string;
  HVM_boot_params: Record<string, string>;
  platform: Record<string, string>;
  VTPMs: Ref[];
  has_vendor_device: boolean;
  domain_type: 'hvm' | 'pv' | 'pv_in_pvh' | 'pvh' | 'unspecified';
  allowed_operations: string[];
  current_operations: Record<string, string>;
  tags: string[];
}

export interface VbdRecord extends Common {
  VM: Ref;
  VDI: Ref;
  device: string;
  userdevice: string;
  bootable: boolean;
  mode: 'RO' | 'RW';
  type: 'CD' | 'Disk' | 'Floppy';
  empty: boolean;
  currently_attached: boolean;
}

export interface VdiRecord extends Common {
  name_label: string;
  name_description: string;
  SR: Ref;
  VBDs: Ref[];
  virtual_size: number;
  physical_utilisation: number;
  type: string;
  read_only: boolean;
  is_a_snapshot: boolean;
  snapshot_of: Ref;
  location: string;
  /** The official tools ISO of the tools SR (XAPI marks the newest guest-tools or xs-tools file). */
  is_tools_iso?: boolean;
}

export interface SrRecord extends Common {
  name_label: string;
  type: string;
  content_type: string;
  VDIs: Ref[];
  PBDs: Ref[];
  physical_size: number;
  physical_utilisation: number;
  is_tools_sr: boolean;
}

export interface NetworkRecord extends Common {
  name_label: string;
  bridge: string;
  PIFs: Ref[];
  VIFs: Ref[];
}

export interface VifRecord extends Common {
  VM: Ref;
  network: Ref;
  device: string;
  MAC: string;
}

export interface TaskRecord extends Common {
  name_label: string;
  status: 'pending' | 'success' | 'failure' | 'cancelling' | 'cancelled';
  progress: number;
  result: string;
  error_info: string[];
}

export interface GuestMetricsRecord extends Common {
  os_version: Record<string, string>;
  PV_drivers_version: Record<string, string>;
  PV_drivers_detected: boolean;
  networks: Record<string, string>;
  other: Record<string, string>;
  live: boolean;
}

/** The record types by XAPI class name. */
export interface RecordTypes {
  pool: PoolRecord;
  host: HostRecord;
  VM: VmRecord;
  VBD: VbdRecord;
  VDI: VdiRecord;
  SR: SrRecord;
  network: NetworkRecord;
  VIF: VifRecord;
  task: TaskRecord;
  VM_guest_metrics: GuestMetricsRecord;
}

export type RecordClass = keyof RecordTypes;

/** A record with its ref (as kept in the event cache). */
export type WithRef<T> = T & { $ref: Ref };
