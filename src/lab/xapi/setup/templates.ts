// The stock templates the lab installs, as XenServer's guest-templates-json builds them
// (xenserver/guest-templates-json 5ee6322d: json/other-install-media.json, base-windows.json,
// base-windows-uefi.json, windows-server-2022-64bit.json, windows-10-64bit.json, windows-11.json,
// windows-server-2025.json; guesttemplates/blank_template.py
// for defaults, memory (static_max = dynamic = 2 × min_memory), platform flags and the recommendations XML).
import { randomUUID } from 'node:crypto';
import type { Row } from '../db/database.js';
import { NULL_REF } from '../datamodel/types.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

interface Recommendations {
  memoryStaticMax: number;
  vcpusMin?: number;
  vcpusMax: number;
  hasVendorDevice: boolean;
  allowNetworkSriov?: boolean;
  supportsBios: boolean;
  supportsUefi: boolean;
  supportsSecureBoot: boolean;
}

/** The `<restrictions>` XML blank_template.py writes (attribute order as minidom keeps it). */
function recommendations(r: Recommendations): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const parts = [`<restriction field="memory-static-max" max="${r.memoryStaticMax}"/>`];
  if (r.vcpusMin !== undefined) parts.push(`<restriction field="vcpus-min" min="${r.vcpusMin}"/>`);
  parts.push(`<restriction field="vcpus-max" max="${r.vcpusMax}"/>`);
  parts.push(`<restriction field="has-vendor-device" value="${r.hasVendorDevice ? 'true' : 'false'}"/>`);
  if (r.allowNetworkSriov !== undefined)
    parts.push(`<restriction field="allow-network-sriov" value="${r.allowNetworkSriov ? 1 : 0}"/>`);
  parts.push(`<restriction field="supports-bios" value="${yes(r.supportsBios)}"/>`);
  parts.push(`<restriction field="supports-uefi" value="${yes(r.supportsUefi)}"/>`);
  parts.push(`<restriction field="supports-secure-boot" value="${yes(r.supportsSecureBoot)}"/>`);
  parts.push('<restriction property="number-of-vbds" max="255"/>', '<restriction property="number-of-vifs" max="7"/>');
  return `<restrictions>${parts.join('')}</restrictions>`;
}

function memory(minMemory: number): Row {
  return {
    memory_static_min: minMemory,
    memory_static_max: 2 * minMemory,
    memory_dynamic_min: 2 * minMemory,
    memory_dynamic_max: 2 * minMemory,
  };
}

/** Fields every template shares (BlankTemplate). */
function blank(): Row {
  return {
    power_state: 'Halted',
    user_version: 1,
    is_a_template: true,
    is_default_template: true,
    suspend_VDI: NULL_REF,
    resident_on: NULL_REF,
    affinity: NULL_REF,
    VCPUs_params: {},
    VCPUs_max: 1,
    VCPUs_at_startup: 1,
    actions_after_shutdown: 'destroy',
    actions_after_reboot: 'restart',
    actions_after_crash: 'restart',
    PV_bootloader: '',
    PV_kernel: '',
    PV_ramdisk: '',
    PV_args: '',
    PV_bootloader_args: '',
    PV_legacy_args: '',
    PCI_bus: '',
    domid: -1,
    HVM_shadow_multiplier: 1.0,
    generation_id: '',
    has_vendor_device: false,
    domain_type: 'hvm',
  };
}

const WINDOWS_PLATFORM = {
  nx: 'true',
  acpi: '1',
  apic: 'true',
  pae: 'true',
  hpet: 'true',
  secureboot: 'auto',
  'cores-per-socket': '2',
  device_id: '0002',
  viridian: 'true',
  viridian_time_ref_count: 'true',
  viridian_reference_tsc: 'true',
  viridian_apic_assist: 'true',
  viridian_crash_ctl: 'true',
  viridian_stimer: 'true',
  vga: 'std',
  videoram: '8',
};

const windowsDisks = (size: number) =>
  `<provision><disk size="${size}" sr="" bootable="false" type="system" device="0"/></provision>`;

interface WindowsTemplate {
  uuid: string;
  label: string;
  ref: string;
  minMemory: number;
  diskGiB: number;
  extraPlatform: Record<string, string>;
  sriov: boolean;
  /** UEFI-only templates (Windows 11, Server 2025) recommend supports-bios=no. */
  supportsBios: boolean;
}

function windowsTemplate({
  uuid,
  label,
  ref,
  minMemory,
  diskGiB,
  extraPlatform,
  sriov,
  supportsBios,
}: WindowsTemplate): Row {
  return {
    ...blank(),
    uuid,
    name_label: label,
    name_description: `Clones of this template will automatically provision their storage when first booted and then reconfigure themselves with the optimal settings for ${label}.`,
    reference_label: ref,
    ...memory(minMemory),
    VCPUs_max: 2,
    VCPUs_at_startup: 2,
    HVM_boot_policy: 'BIOS order',
    HVM_boot_params: { firmware: 'uefi', order: 'cd' },
    platform: { ...WINDOWS_PLATFORM, ...extraPlatform },
    other_config: { 'install-methods': 'cdrom', mac_seed: randomUUID(), disks: windowsDisks(diskGiB * GiB) },
    generation_id: '0:0',
    recommendations: recommendations({
      memoryStaticMax: 1536 * GiB,
      vcpusMin: 2,
      vcpusMax: 64,
      hasVendorDevice: true,
      ...(sriov ? { allowNetworkSriov: true } : {}),
      supportsBios,
      supportsUefi: true,
      supportsSecureBoot: true,
    }),
  };
}

export const TEMPLATES: Record<string, () => Row> = {
  'other-install-media': () => ({
    ...blank(),
    uuid: '552bce37-51b2-445d-84f2-5f33fa112d7e',
    name_label: 'Other install media',
    name_description: 'Template which allows VM installation from install media',
    reference_label: 'other-install-media',
    ...memory(128 * MiB),
    HVM_boot_policy: 'BIOS order',
    HVM_boot_params: { firmware: 'bios', order: 'cd' },
    platform: { nx: 'true', acpi: '1', apic: 'true', pae: 'true', hpet: 'true', secureboot: 'false', viridian: 'true' },
    other_config: { 'install-methods': 'cdrom', mac_seed: randomUUID() },
    recommendations: recommendations({
      memoryStaticMax: 128 * GiB,
      vcpusMax: 64,
      hasVendorDevice: false,
      supportsBios: true,
      supportsUefi: true,
      supportsSecureBoot: true,
    }),
  }),
  'windows-server-2022-64bit': () =>
    windowsTemplate({
      uuid: '1c33af1c-e919-418c-ad45-85d7d6fb604a',
      label: 'Windows Server 2022 (64-bit)',
      ref: 'windows-server-2022-64bit',
      minMemory: 1 * GiB,
      diskGiB: 32,
      extraPlatform: {},
      sriov: true,
      supportsBios: true,
    }),
  'windows-10-64bit': () =>
    windowsTemplate({
      uuid: '7774689b-4ca1-4dea-8545-dddd6b64c17f',
      label: 'Windows 10 (64-bit)',
      ref: 'windows-10-64bit',
      minMemory: 2 * GiB,
      diskGiB: 32,
      extraPlatform: { acpi_laptop_slate: '1' },
      sriov: false,
      supportsBios: true,
    }),
  // UEFI only; Windows 11 needs a TPM, so the template asks VM.start to create a VTPM (platform:vtpm).
  'windows-11': () =>
    windowsTemplate({
      uuid: '1f8728f9-6354-4a68-adc3-222c34f2bb94',
      label: 'Windows 11',
      ref: 'windows-11',
      minMemory: 4 * GiB,
      diskGiB: 64,
      extraPlatform: { acpi_laptop_slate: '1', vtpm: 'true' },
      sriov: false,
      supportsBios: false,
    }),
  'windows-server-2025': () =>
    windowsTemplate({
      uuid: '905ab443-e415-4d52-bfef-e14b147eac4e',
      label: 'Windows Server 2025',
      ref: 'windows-server-2025',
      minMemory: 2 * GiB,
      diskGiB: 64,
      extraPlatform: {},
      sriov: true,
      supportsBios: false,
    }),
};
