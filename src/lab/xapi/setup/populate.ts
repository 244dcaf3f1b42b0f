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
import { makeIso } from './isoImage.js';
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

function hostRecord(name: string, address: string, memoryGiB: number, cpus: number): Row {
  return {
    uuid: newUuid(),
    name_label: name,
    name_description: 'Default install',
    address,
    hostname: name,
    enabled: true,
    API_version_major: 2,
    API_version_minor: 21,
    API_version_vendor: 'XenSource',
    software_version: {
      product_brand: 'XenServer',
      product_version: '8.4.0',
      product_version_text: '8.4',
      product_version_text_short: '8.4',
      platform_name: 'XCP',
      platform_version: '3.4.0',
      build_number: 'xenimage-lab',
      hostname: name,
      xapi: '24.19',
      xapi_build: '24.19.2',
      xen: '4.17.5-lab',
      linux: '4.19.0+1',
      date: '2025-01-01',
      dbv: '2024.0101',
    },
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
    editions: ['xenserver-premium'],
    edition: 'xenserver-premium',
    display: 'enabled',
    virtual_hardware_platform_versions: [0, 1, 2],
    memory_overhead: 0,
    guest_VCPUs_params: {},
    _memoryGiB: memoryGiB,
  };
}

async function addHost(core: LabCore, spec: Scenario['hosts'][number], address: string): Promise<string> {
  const { db } = core;
  const host = newRef();
  const metrics = newRef();
  const rec = hostRecord(spec.name, address, spec.memoryGiB, spec.cpus);
  delete rec._memoryGiB;
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

async function addSr(core: LabCore, spec: Scenario['srs'][number], hosts: string[]): Promise<string> {
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
    other_config: iso ? { auto_scan: 'true' } : { 'i18n-key': 'local-storage' },
    sm_config: spec.type === 'lvm' ? { allocation: 'thick', use_vhd: 'true' } : {},
    is_tools_sr: spec.tools,
  });
  const dir = core.vdis.srDir(uuid);
  for (const host of hosts) {
    const pbd = newRef();
    db.insert('PBD', pbd, {
      uuid: newUuid(),
      host,
      SR: ref,
      device_config: iso ? { location: dir, legacy_mode: 'true' } : { device: dir },
      currently_attached: true,
      other_config: {},
    });
    addToSet(db, 'SR', ref, 'PBDs', pbd);
    addToSet(db, 'host', host, 'PBDs', pbd);
  }
  if (iso) {
    for (const image of spec.isos) await makeIso(path.join(dir, image.file), image.label, image.files);
    await scanIsoSr(core, ref);
  }
  return ref;
}

function addNetwork(core: LabCore, spec: Scenario['networks'][number], hosts: string[], management: boolean): string {
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
  hosts.forEach((host, i) => {
    const pif = newRef();
    db.insert('PIF', pif, {
      uuid: newUuid(),
      device: spec.device,
      network: ref,
      host,
      MAC: macFromSeed(`${spec.name}/${i}`, spec.device),
      MTU: spec.mtu,
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
    addToSet(db, 'network', ref, 'PIFs', pif);
    addToSet(db, 'host', host, 'PIFs', pif);
  });
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

async function addVm(
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
    platform: { ...(base.platform as Record<string, string>), ...spec.platform },
    other_config: { ...(base.other_config as Record<string, string>), mac_seed: randomUUID(), ...spec.otherConfig },
    tags: spec.tags,
    HVM_boot_params: spec.mode === 'hvm' ? { firmware: 'bios', order: 'c' } : {},
  });
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
    domainStarted(core, ref);
    if (spec.guestMetrics) await core.guests.reportGuestMetrics(ref, spec.guestMetrics);
  }
  return ref;
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
    restrictions: {
      restrict_dmc: scenario.pool.dmc ? 'false' : 'true',
      restrict_vss: 'true',
      restrict_pool_size: 'false',
      restrict_vm_memory_limits: 'false',
    },
    cpu_info: {
      cpu_count: String(scenario.hosts.reduce((n, h) => n + h.cpus, 0)),
      socket_count: String(scenario.hosts.length),
      vendor: 'GenuineIntel',
    },
    ha_enabled: false,
    tags: [],
  });
  const srs = new Map<string, string>();
  for (const sr of scenario.srs) {
    const ref = await addSr(core, sr, hostRefs);
    srs.set(sr.name, ref);
    if (sr.default) db.set('pool', core.poolRef, { default_SR: ref, suspend_image_SR: ref, crash_dump_SR: ref });
  }
  const networks = new Map<string, string>();
  scenario.networks.forEach((n, i) => networks.set(n.name, addNetwork(core, n, hostRefs, i === 0)));
  for (const id of scenario.templates) {
    const tpl = TEMPLATES[id]!();
    insertVm(db, tpl);
  }
  for (const vm of scenario.vms) await addVm(core, vm, srs, networks);
  return { hostRefs };
}
