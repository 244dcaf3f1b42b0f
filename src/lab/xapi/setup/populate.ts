// Builds a fresh pool from a scenario: hosts (with their control domains, metrics, PIFs and PBDs), the pool,
// SRs (ISO SRs filled with real ISO images), networks, the stock templates, and VMs with real disk contents.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Scenario, ScenarioVm } from '../../scenarios/schema.js';
import { contentBytes, MiB } from '../../scenarios/content.js';
import type { LabCore } from '../api/context.js';
import { scanIsoSr } from '../api/storage.js';
import { newRef, newUuid, type Row } from '../db/database.js';
import { NULL_REF, xapiDate } from '../datamodel/types.js';
import { vdiHandle } from '../lifecycle/disks.js';
import { addToSet, insertVbd, insertVif, insertVm, macFromSeed, refreshVm } from '../lifecycle/links.js';
import { domainStarted } from '../lifecycle/power.js';
import { createVdi, updateVdiUsage } from '../lifecycle/vdiOps.js';
import { poolUefiCertificates } from '../lifecycle/uefi.js';
import { createVtpm } from '../lifecycle/vtpm.js';
import { prepareBoot } from '../lifecycle/boot.js';
import { makeIso } from './isoImage.js';
import { PRODUCTS, type ProductProfile, type TemplateId } from './products.js';
import { TEMPLATES } from './templates.js';

const GiB = 2 ** 30;

const DISK_SR_OPS = [
  'vdi_enable_cbt',
  'vdi_list_changed_blocks',
  'unplug',
  'plug',
  'pbd_create',
  'vdi_disable_cbt',
  'update',
  'pbd_destroy',
  'vdi_resize',
  'vdi_clone',
  'vdi_data_destroy',
  'scan',
  'vdi_snapshot',
  'vdi_mirror',
  'vdi_create',
  'vdi_destroy',
  'vdi_set_on_boot',
  'forget',
  'destroy',
];
const ISO_SR_OPS = [
  'forget',
  'vdi_introduce',
  'scan',
  'destroy',
  'plug',
  'unplug',
  'pbd_create',
  'pbd_destroy',
  'update',
];

export interface PopulatedPool {
  hostRefs: string[];
}

function hostRecord(product: ProductProfile, name: string, address: string, cpus: number): Row {
  return {
    uuid: newUuid(),
    name_label: name,
    name_description: 'Default install',
    address,
    hostname: name,
    enabled: true,
    API_version_major: product.apiVersion.major,
    API_version_minor: product.apiVersion.minor,
    API_version_vendor: 'XenSource',
    software_version: { ...product.softwareVersion, hostname: name },
    capabilities: ['xen-3.0-x86_64', 'hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64'],
    cpu_info: {
      cpu_count: String(cpus),
      socket_count: '1',
      vendor: 'GenuineIntel',
      speed: '2400.000',
      modelname: 'Lab CPU',
      family: '6',
      model: '85',
      stepping: '7',
      flags: 'fpu vme de pse tsc msr pae mce cx8 apic',
      features_hvm: '',
      features_pv: '',
    },
    sched_policy: 'credit',
    supported_bootloaders: ['pygrub', 'eliloader'],
    other_config: {
      agent_start_time: String(Date.now() / 1000),
      boot_time: String(Math.floor(Date.now() / 1000)),
      iscsi_iqn: `iqn.2025-01.lab.xenimage:${name}`,
    },
    editions: [...product.editions],
    edition: product.edition,
    display: 'enabled',
    virtual_hardware_platform_versions: [0, 1, 2],
    memory_overhead: 0,
    guest_VCPUs_params: {},
  };
}

/** A host with its metrics and control domain; PBDs and PIFs are added by attachHost. */
export async function addHost(core: LabCore, spec: Scenario['hosts'][number], address: string): Promise<string> {
  const { db } = core;
  const host = newRef();
  const metrics = newRef();
  const rec = hostRecord(core.product, spec.name, address, spec.cpus);
  db.insert('host_metrics', metrics, {
    uuid: newUuid(),
    memory_total: spec.memoryGiB * GiB,
    memory_free: spec.memoryGiB * GiB - 4 * GiB,
    live: true,
    last_updated: xapiDate(),
  });
  db.insert('host', host, { ...rec, metrics });
  const dom0 = insertVm(db, {
    name_label: `Control domain on host: ${spec.name}`,
    name_description: 'The domain which manages physical devices and manages other domains',
    power_state: 'Running',
    is_control_domain: true,
    domid: 0,
    resident_on: host,
    memory_static_min: 4 * GiB,
    memory_static_max: 4 * GiB,
    memory_dynamic_min: 4 * GiB,
    memory_dynamic_max: 4 * GiB,
    memory_target: 4 * GiB,
    VCPUs_max: Math.min(spec.cpus, 8),
    VCPUs_at_startup: Math.min(spec.cpus, 8),
    actions_after_shutdown: 'destroy',
    actions_after_reboot: 'destroy',
    actions_after_crash: 'destroy',
    domain_type: 'pv',
    HVM_boot_policy: '',
    user_version: 1,
    other_config: { storage_driver_domain: '', is_system_domain: 'true', perfmon: '' },
  });
  db.set('host', host, { control_domain: dom0 });
  addToSet(db, 'host', host, 'resident_VMs', dom0);
  await Promise.resolve();
  return host;
}

function addPbd(core: LabCore, srRef: string, host: string): void {
  const { db } = core;
  const sr = db.require('SR', srRef);
  const dir = core.vdis.srDir(sr.uuid as string);
  const pbd = newRef();
  db.insert('PBD', pbd, {
    uuid: newUuid(),
    host,
    SR: srRef,
    device_config: sr.type === 'iso' ? { location: dir, legacy_mode: 'true' } : { device: dir },
    currently_attached: true,
    other_config: {},
  });
  addToSet(db, 'SR', srRef, 'PBDs', pbd);
  addToSet(db, 'host', host, 'PBDs', pbd);
}

/** ISO files of the scenario that the SR's folder does not hold yet are made, then the SR is scanned. */
export async function addIsos(core: LabCore, srRef: string, isos: Scenario['srs'][number]['isos']): Promise<string[]> {
  const sr = core.db.require('SR', srRef);
  const dir = core.vdis.srDir(sr.uuid as string);
  const known = new Set(
    (sr.VDIs as string[]).map((v) => core.db.get('VDI', v)?.location as string | undefined).filter(Boolean),
  );
  const made: string[] = [];
  for (const image of isos) {
    if (known.has(image.file)) continue;
    await makeIso(path.join(dir, image.file), image.label, image.files);
    made.push(image.file);
  }
  await scanIsoSr(core, srRef);
  return made;
}

export async function addSr(core: LabCore, spec: Scenario['srs'][number], hosts: string[]): Promise<string> {
  const { db } = core;
  const ref = newRef();
  const uuid = newUuid();
  const iso = spec.type === 'iso';
  db.insert('SR', ref, {
    uuid,
    name_label: spec.name,
    name_description: spec.description,
    allowed_operations: iso ? ISO_SR_OPS : DISK_SR_OPS,
    current_operations: {},
    physical_size: iso ? 0 : spec.sizeGiB * GiB,
    type: spec.type,
    content_type: iso ? 'iso' : 'user',
    shared: spec.shared,
    // The tools SR as dbsync_master.ml create_tools_sr marks it.
    other_config: spec.tools
      ? { xenserver_tools_sr: 'true', xensource_internal: 'true', 'i18n-key': 'xenserver-tools' }
      : iso
        ? { auto_scan: 'true' }
        : { 'i18n-key': 'local-storage' },
    sm_config: spec.type === 'lvm' ? { allocation: 'thick', use_vhd: 'true' } : {},
    is_tools_sr: spec.tools,
  });
  for (const host of hosts) addPbd(core, ref, host);
  if (iso) await addIsos(core, ref, spec.isos);
  return ref;
}

function addPif(
  core: LabCore,
  network: string,
  host: string,
  index: number,
  management: boolean,
  device: string,
): void {
  const { db } = core;
  const net = db.require('network', network);
  const pif = newRef();
  db.insert('PIF', pif, {
    uuid: newUuid(),
    device,
    network,
    host,
    MAC: macFromSeed(`${net.name_label as string}/${index}`, device),
    MTU: net.MTU,
    VLAN: -1,
    metrics: NULL_REF,
    physical: true,
    currently_attached: true,
    ip_configuration_mode: management ? 'Static' : 'None',
    IP: management ? (db.get('host', host)?.address as string) : '',
    netmask: management ? '255.0.0.0' : '',
    management,
    managed: true,
    primary_address_type: 'IPv4',
    properties: { gro: 'on' },
    igmp_snooping_status: 'unknown',
  });
  addToSet(db, 'network', network, 'PIFs', pif);
  addToSet(db, 'host', host, 'PIFs', pif);
}

/** A host joining: a PBD for every SR, a PIF on every network (the first network carries management). */
export function attachHost(core: LabCore, host: string): void {
  const { db } = core;
  for (const [sr] of db.rows('SR')) addPbd(core, sr, host);
  const index = db.rows('host').length - 1;
  db.rows('network').forEach(([net, row], i) => {
    // The device other hosts have on this network.
    const pif = db.get('PIF', ((row.PIFs as string[])[0] ?? '') as string);
    addPif(core, net, host, index, i === 0, (pif?.device as string | undefined) ?? 'eth0');
  });
}

export function addNetwork(
  core: LabCore,
  spec: Scenario['networks'][number],
  hosts: string[],
  management: boolean,
): string {
  const { db } = core;
  const ref = newRef();
  db.insert('network', ref, {
    uuid: newUuid(),
    name_label: spec.name,
    name_description: spec.description,
    MTU: spec.mtu,
    bridge: spec.bridge,
    managed: true,
    other_config: {},
    default_locking_mode: 'unlocked',
  });
  hosts.forEach((host, i) => addPif(core, ref, host, i, management, spec.device));
  return ref;
}

function baseVmFields(mode: 'hvm' | 'pv'): Row {
  const template = TEMPLATES['other-install-media']!();
  const fields: Row = { ...template };
  for (const f of ['uuid', 'name_label', 'name_description', 'reference_label', 'recommendations']) delete fields[f];
  if (mode === 'pv') {
    return {
      ...fields,
      HVM_boot_policy: '',
      HVM_boot_params: {},
      domain_type: 'pv',
      PV_bootloader: 'pygrub',
      platform: { nx: 'true', acpi: '1', apic: 'true', pae: 'true', viridian: 'false' },
    };
  }
  return fields;
}

export async function addVm(
  core: LabCore,
  spec: ScenarioVm,
  srs: Map<string, string>,
  networks: Map<string, string>,
): Promise<string> {
  const { db } = core;
  const base = baseVmFields(spec.mode);
  const mem = spec.memoryMiB * MiB;
  const ref = insertVm(db, {
    ...base,
    name_label: spec.name,
    name_description: spec.description,
    is_a_template: false,
    is_default_template: false,
    memory_static_min: Math.min(mem, base.memory_static_min as number),
    memory_static_max: mem,
    memory_dynamic_min: mem,
    memory_dynamic_max: mem,
    VCPUs_max: spec.vcpus,
    VCPUs_at_startup: spec.vcpus,
    platform: {
      ...(base.platform as Record<string, string>),
      ...(spec.mode === 'hvm' ? { secureboot: String(spec.secureBoot) } : {}),
      ...spec.platform,
    },
    other_config: { ...(base.other_config as Record<string, string>), mac_seed: randomUUID(), ...spec.otherConfig },
    tags: spec.tags,
    HVM_boot_params: spec.mode === 'hvm' ? { firmware: spec.firmware, order: 'c' } : {},
    has_vendor_device: spec.hasVendorDevice,
    hardware_platform_version: spec.hasVendorDevice ? 2 : 0,
  });
  if (spec.vtpm) createVtpm(core, ref, false);
  for (const disk of spec.disks) {
    const vdi = await createVdi(core, {
      SR: srs.get(disk.sr)!,
      virtual_size: disk.sizeMiB * MiB,
      type: 'system',
      name_label: `${spec.name} ${disk.userdevice}`,
      name_description: `Disk ${disk.userdevice} of ${spec.name}`,
    });
    for (const c of disk.content)
      await core.vdis.write(vdiHandle(core, vdi), Math.round(c.offsetMiB * MiB), contentBytes(c));
    await updateVdiUsage(core, vdi);
    insertVbd(db, {
      VM: ref,
      VDI: vdi,
      userdevice: disk.userdevice,
      bootable: disk.userdevice === '0',
      mode: 'RW',
      type: 'Disk',
      unpluggable: disk.userdevice !== '0',
      empty: false,
      other_config: { owner: '' },
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
  }
  if (spec.cdrom) {
    const isoRef =
      spec.cdrom.iso === null
        ? undefined
        : db
            .rows('VDI')
            .find(([, v]) => v.location === spec.cdrom?.iso && db.get('SR', v.SR as string)?.type === 'iso')?.[0];
    insertVbd(db, {
      VM: ref,
      VDI: isoRef ?? NULL_REF,
      userdevice: '3',
      bootable: false,
      mode: 'RO',
      type: 'CD',
      unpluggable: true,
      empty: isoRef === undefined,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
  }
  spec.networks.forEach((net, i) => {
    const vm = db.require('VM', ref);
    insertVif(db, {
      device: String(i),
      network: networks.get(net)!,
      VM: ref,
      MAC: macFromSeed((vm.other_config as Record<string, string>).mac_seed ?? '', String(i)),
      MAC_autogenerated: true,
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
      locking_mode: 'network_default',
      allowed_operations: ['attach'],
    });
  });
  refreshVm(db, ref);
  if (spec.powerState === 'Running') {
    prepareBoot(core, ref);
    domainStarted(core, ref);
    if (spec.guestMetrics) await core.guests.reportGuestMetrics(ref, spec.guestMetrics);
  }
  return ref;
}

/** pool.restrictions: the product's, dynamic memory control as the scenario says, then the scenario's entries. */
export function poolRestrictions(scenario: Scenario): Record<string, string> {
  return {
    restrict_dmc: scenario.pool.dmc ? 'false' : 'true',
    ...PRODUCTS[scenario.pool.product].restrictions,
    ...scenario.pool.restrictions,
  };
}

/** Templates the scenario asks for (default: all the product ships) that the pool does not have yet. */
export function addTemplates(core: LabCore, scenario: Scenario): string[] {
  const { db } = core;
  const present = new Set(
    db
      .rows('VM')
      .filter(([, v]) => v.is_a_template === true && v.is_default_template === true)
      .map(([, v]) => v.reference_label as string),
  );
  const added: string[] = [];
  for (const id of scenario.templates ?? PRODUCTS[scenario.pool.product].templates) {
    if (present.has(id)) continue;
    const tpl = TEMPLATES[id as TemplateId]!();
    insertVm(db, tpl);
    added.push(tpl.name_label as string);
  }
  return added;
}

/** Fills an empty database from the scenario. `addresses[i]` is where host i listens. */
export async function populate(core: LabCore, scenario: Scenario, addresses: string[]): Promise<PopulatedPool> {
  const { db } = core;
  const hostRefs: string[] = [];
  for (const [i, h] of scenario.hosts.entries()) hostRefs.push(await addHost(core, h, addresses[i]!));
  const master = hostRefs[0]!;
  db.insert('pool', core.poolRef, {
    uuid: newUuid(),
    name_label: scenario.pool.name,
    name_description: '',
    master,
    other_config: {},
    restrictions: poolRestrictions(scenario),
    cpu_info: {
      cpu_count: String(scenario.hosts.reduce((n, h) => n + h.cpus, 0)),
      socket_count: String(scenario.hosts.length),
      vendor: 'GenuineIntel',
    },
    ha_enabled: false,
    tags: [],
    uefi_certificates: core.product.uefiCertificates ? await poolUefiCertificates() : '',
  });
  const srs = new Map<string, string>();
  for (const sr of scenario.srs) {
    const ref = await addSr(core, sr, hostRefs);
    srs.set(sr.name, ref);
    if (sr.default) db.set('pool', core.poolRef, { default_SR: ref, suspend_image_SR: ref, crash_dump_SR: ref });
  }
  const networks = new Map<string, string>();
  scenario.networks.forEach((n, i) => networks.set(n.name, addNetwork(core, n, hostRefs, i === 0)));
  addTemplates(core, scenario);
  for (const vm of scenario.vms) await addVm(core, vm, srs, networks);
  return { hostRefs };
}
