// Lifecycle side effects of the VM, VBD, VDI and VIF calls, as XAPI applies them, through the xen-api client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Xapi } from 'xen-api';
import { contentBytes } from '../../../src/lab/scenarios/content.js';
import type { XapiLab } from '../../../src/lab/xapi/index.js';
import { labClient, startTestLab } from '../../helpers/xapiLab.js';

const MiB = 1024 * 1024;
type Rec = Record<string, unknown>;

async function rejectsWith(p: Promise<unknown>, code: string, params?: unknown[]): Promise<void> {
  await assert.rejects(p, (err: { code?: string; params?: unknown[] }) => {
    assert.equal(err.code, code);
    if (params) assert.deepEqual(err.params, params);
    return true;
  });
}

async function template(xapi: Xapi, name = 'Other install media'): Promise<string> {
  const refs = await xapi.call<string[]>('VM.get_by_name_label', name);
  for (const r of refs)
    if ((await xapi.call('VM.get_is_a_template', r)) && !(await xapi.call('VM.get_is_a_snapshot', r))) return r;
  throw new Error(`no template ${name}`);
}

async function provisionedVm(xapi: Xapi, name: string, sizeMiB = 32): Promise<{ vm: string; disk: string }> {
  const vm = await xapi.callAsync<string>('VM.clone', await template(xapi), name);
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  const uuid = await xapi.call<string>('SR.get_uuid', sr);
  await xapi.call(
    'VM.add_to_other_config',
    vm,
    'disks',
    `<provision><disk device="0" size="${sizeMiB * MiB}" sr="${uuid}" bootable="true" type="system"/></provision>`,
  );
  await xapi.callAsync('VM.provision', vm);
  const vbds = await xapi.call<string[]>('VM.get_VBDs', vm);
  const disk = await xapi.call<string>('VBD.get_VDI', vbds[0]);
  return { vm, disk };
}

test('"Other install media" and the Windows templates are what XenServer ships', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const tpl = await xapi.call<Rec>('VM.get_record', await template(xapi));
  assert.equal(tpl.name_description, 'Template which allows VM installation from install media');
  assert.equal(tpl.reference_label, 'other-install-media');
  assert.equal(tpl.is_default_template, true);
  assert.equal(tpl.memory_static_min, 134217728);
  for (const f of ['memory_static_max', 'memory_dynamic_min', 'memory_dynamic_max']) assert.equal(tpl[f], 268435456);
  assert.equal(tpl.VCPUs_max, 1);
  assert.equal(tpl.HVM_boot_policy, 'BIOS order');
  assert.deepEqual(tpl.HVM_boot_params, { firmware: 'bios', order: 'cd' });
  assert.equal(tpl.domain_type, 'hvm');
  assert.deepEqual(tpl.platform, {
    nx: 'true',
    acpi: '1',
    apic: 'true',
    pae: 'true',
    hpet: 'true',
    secureboot: 'false',
    viridian: 'true',
  });
  assert.equal((tpl.other_config as Rec)['install-methods'], 'cdrom');
  assert.match((tpl.other_config as Rec).mac_seed as string, /^[0-9a-f-]{36}$/);
  assert.equal((tpl.other_config as Rec).disks, undefined);
  assert.match(
    tpl.recommendations as string,
    /<restriction field="memory-static-max" max="137438953472"\/>.*<restriction field="vcpus-max" max="64"\/>.*<restriction property="number-of-vifs" max="7"\/>/,
  );
  assert.deepEqual([tpl.VBDs, tpl.VIFs], [[], []]);
  assert.deepEqual(
    [tpl.actions_after_shutdown, tpl.actions_after_reboot, tpl.actions_after_crash],
    ['destroy', 'restart', 'restart'],
  );
  const win = await xapi.call<Rec>('VM.get_record', await template(xapi, 'Windows Server 2022 (64-bit)'));
  assert.equal((win.platform as Rec).device_id, '0002');
  assert.equal((win.platform as Rec).viridian, 'true');
  assert.match(
    (win.other_config as Rec).disks as string,
    /^<provision><disk size="34359738368" sr="" bootable="false" type="system" device="0"\/><\/provision>$/,
  );
});

test('clone: a template again, new mac_seed, base_template_name; provision needs a template and a known SR', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const tpl = await template(xapi);
  const clone = await xapi.callAsync<string>('VM.clone', tpl, 'c1');
  const rec = await xapi.call<Rec>('VM.get_record', clone);
  assert.equal(rec.is_a_template, true);
  assert.equal(rec.is_default_template, false);
  assert.equal((rec.other_config as Rec).base_template_name, 'Other install media');
  assert.notEqual(
    (rec.other_config as Rec).mac_seed,
    ((await xapi.call<Rec>('VM.get_other_config', tpl)) as Rec).mac_seed,
  );
  await xapi.call(
    'VM.add_to_other_config',
    clone,
    'disks',
    '<provision><disk device="0" size="1048576" sr="nope" bootable="true"/></provision>',
  );
  await rejectsWith(xapi.callAsync('VM.provision', clone), 'UUID_INVALID', ['sr', 'nope']);
  // XAPI clears is_a_template before it creates the disks, and does not restore it when that fails.
  assert.equal(await xapi.call('VM.get_is_a_template', clone), false);
  const clone2 = await xapi.callAsync<string>('VM.clone', tpl, 'c2');
  await xapi.call('VM.add_to_other_config', clone2, 'disks', '<provision foo="1"/>');
  await rejectsWith(xapi.callAsync('VM.provision', clone2), 'INTERNAL_ERROR');
  const { vm, disk } = await provisionedVm(xapi, 'p1', 10);
  assert.equal(await xapi.call('VM.get_is_a_template', vm), false);
  assert.equal(await xapi.call('VDI.get_virtual_size', disk), 10 * MiB);
  assert.equal(await xapi.call('VDI.get_name_label', disk), '0');
  assert.equal(await xapi.call('VDI.get_name_description', disk), 'Created by template provisioner');
  assert.equal((await xapi.call<Rec>('VM.get_other_config', vm)).disks, undefined);
  await rejectsWith(xapi.callAsync('VM.provision', vm), 'PROVISION_ONLY_ALLOWED_ON_TEMPLATE', []);
  // Sizes round up to 2 MiB on VHD SRs.
  const odd = await provisionedVm(xapi, 'p2', 3);
  assert.equal(await xapi.call('VDI.get_virtual_size', odd.disk), 4 * MiB);
});

test('VBD rules: CDs RO and the only empty drives, devices unique, insert/eject, destroy of attached VBDs refused', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const { vm, disk } = await provisionedVm(xapi, 'vbd');
  const base = { VM: vm, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {}, bootable: false };
  await rejectsWith(
    xapi.call('VBD.create', { ...base, VDI: 'OpaqueRef:NULL', userdevice: '3', mode: 'RW', type: 'CD', empty: true }),
    'VBD_CDS_MUST_BE_READONLY',
    [],
  );
  await rejectsWith(
    xapi.call('VBD.create', { ...base, VDI: 'OpaqueRef:NULL', userdevice: '3', mode: 'RW', type: 'Disk', empty: true }),
    'VBD_NOT_REMOVABLE_MEDIA',
    ['in constructor'],
  );
  await rejectsWith(
    xapi.call('VBD.create', { ...base, VDI: disk, userdevice: '0', mode: 'RW', type: 'Disk', empty: false }),
    'DEVICE_ALREADY_EXISTS',
    ['0'],
  );
  await rejectsWith(
    xapi.call('VBD.create', { ...base, VDI: disk, userdevice: 'xvda', mode: 'RW', type: 'Disk', empty: false }),
    'DEVICE_ALREADY_EXISTS',
    ['xvda'],
  );
  await rejectsWith(
    xapi.call('VBD.create', { ...base, VDI: disk, userdevice: 'zz', mode: 'RW', type: 'Disk', empty: false }),
    'INVALID_DEVICE',
    ['zz'],
  );
  const [iso] = await xapi.call<string[]>('VDI.get_by_name_label', 'guest-tools.iso');
  await rejectsWith(
    xapi.call('VBD.create', { ...base, VDI: iso, userdevice: '5', mode: 'RW', type: 'Disk', empty: false }),
    'VDI_READONLY',
    [iso],
  );
  const cd = await xapi.call<string>('VBD.create', {
    ...base,
    VDI: 'OpaqueRef:NULL',
    userdevice: '3',
    mode: 'RO',
    type: 'CD',
    empty: true,
    bootable: true,
  });
  await rejectsWith(xapi.call('VBD.eject', cd), 'VBD_IS_EMPTY', [cd]);
  await xapi.call('VBD.insert', cd, iso);
  assert.ok((await xapi.call<string[]>('VDI.get_VBDs', iso)).includes(cd));
  await rejectsWith(xapi.call('VBD.insert', cd, iso), 'VBD_NOT_EMPTY', [cd]);
  const [diskVbd] = await xapi.call<string[]>('VDI.get_VBDs', disk);
  await rejectsWith(xapi.call('VBD.insert', diskVbd, iso), 'VBD_NOT_REMOVABLE_MEDIA', [diskVbd]);
  await xapi.callAsync('VM.start', vm, false, false);
  await rejectsWith(xapi.call('VBD.destroy', cd), 'OPERATION_NOT_ALLOWED');
  await xapi.call('VBD.eject', cd);
  assert.equal(await xapi.call('VBD.get_empty', cd), true);
  assert.ok(!(await xapi.call<string[]>('VDI.get_VBDs', iso)).includes(cd));
  await rejectsWith(xapi.call('VDI.destroy', disk), 'VDI_IN_USE', [disk, 'destroy']);
  await rejectsWith(
    xapi.call('VIF.create', {
      device: '9',
      network: (await xapi.call<string[]>('network.get_all'))[0],
      VM: vm,
      MAC: '',
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    }),
    'INVALID_DEVICE',
    ['9'],
  );
  await rejectsWith(
    xapi.call('VIF.create', {
      device: '1',
      network: (await xapi.call<string[]>('network.get_all'))[0],
      VM: vm,
      MAC: 'nonsense',
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    }),
    'MAC_INVALID',
    ['nonsense'],
  );
});

test('power: start sets devices and domid; clean shutdown needs PV drivers; hard shutdown always works', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const tplClone = await xapi.callAsync<string>('VM.clone', await template(xapi), 'still-a-template');
  await rejectsWith(xapi.callAsync('VM.start', tplClone, false, false), 'VM_IS_TEMPLATE', [tplClone, 'start']);
  const { vm } = await provisionedVm(xapi, 'power');
  await xapi.call('VM.add_to_platform', vm, 'cores-per-socket', '2');
  await rejectsWith(xapi.callAsync('VM.start', vm, false, false), 'VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE', ['1', '2']);
  await xapi.call('VM.remove_from_platform', vm, 'cores-per-socket');
  await xapi.callAsync('VM.start', vm, false, false);
  const rec = await xapi.call<Rec>('VM.get_record', vm);
  assert.equal(rec.power_state, 'Running');
  assert.equal((rec.platform as Rec)['device-model'], 'qemu-upstream-compat');
  assert.ok((rec.allowed_operations as string[]).includes('hard_shutdown'));
  assert.ok(
    !(rec.allowed_operations as string[]).includes('clean_shutdown'),
    'no PV drivers: clean shutdown is not advertised',
  );
  await rejectsWith(xapi.callAsync('VM.start', vm, false, false), 'VM_BAD_POWER_STATE', [vm, 'halted', 'running']);
  await rejectsWith(xapi.callAsync('VM.clean_shutdown', vm), 'VM_LACKS_FEATURE', [vm]);
  await rejectsWith(xapi.callAsync('VM.destroy', vm), 'VM_BAD_POWER_STATE', [vm, 'halted, suspended', 'running']);
  await rejectsWith(xapi.call('VM.set_VCPUs_max', vm, 4), 'VM_BAD_POWER_STATE', [vm, 'halted', 'running']);
  await xapi.callAsync('VM.hard_shutdown', vm);
  assert.equal(await xapi.call('VM.get_power_state', vm), 'Halted');
  await rejectsWith(xapi.callAsync('VM.hard_shutdown', vm), 'VM_BAD_POWER_STATE', [
    vm,
    'paused, suspended, running',
    'halted',
  ]);
});

test('memory and VCPU settings keep their ordering rules', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const vm = await xapi.callAsync<string>('VM.clone', await template(xapi), 'settings');
  await rejectsWith(xapi.call('VM.set_VCPUs_at_startup', vm, 2), 'INVALID_VALUE');
  await xapi.call('VM.set_VCPUs_max', vm, 4);
  await xapi.call('VM.set_VCPUs_at_startup', vm, 4);
  await rejectsWith(xapi.call('VM.set_VCPUs_max', vm, 2), 'INVALID_VALUE', [
    'VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max',
    '2',
  ]);
  await rejectsWith(
    xapi.callAsync('VM.set_memory_limits', vm, 512 * MiB, 256 * MiB, 256 * MiB, 256 * MiB),
    'MEMORY_CONSTRAINT_VIOLATION_ORDER',
    [],
  );
  await rejectsWith(
    xapi.callAsync('VM.set_memory_limits', vm, 128 * MiB, 1024 * MiB, 512 * MiB, 1024 * MiB),
    'MEMORY_CONSTRAINT_VIOLATION_MAXPIN',
    ['DMC disabled'],
  );
  await xapi.callAsync('VM.set_memory_limits', vm, 128 * MiB, 1024 * MiB, 1024 * MiB, 1024 * MiB);
  assert.equal(await xapi.call('VM.get_memory_dynamic_max', vm), 1024 * MiB);
  await xapi.callAsync('VM.set_memory', vm, 2048 * MiB);
  assert.equal(await xapi.call('VM.get_memory_static_max', vm), 2048 * MiB);
});

test('snapshot and revert: disk contents come back on new VDIs; destroy keeps VDIs', async (t) => {
  const lab: XapiLab = await startTestLab(t);
  const xapi = await labClient(lab);
  const { vm, disk } = await provisionedVm(xapi, 'snap', 8);
  const before = contentBytes({ offsetMiB: 0, lengthMiB: 1, seed: 'before' });
  await lab.host.writeDisk(disk, 2 * MiB, before);
  await xapi.callAsync('VM.start', vm, false, false);
  const snap = await xapi.callAsync<string>('VM.snapshot', vm, 'pre-sysprep');
  const srec = await xapi.call<Rec>('VM.get_record', snap);
  assert.deepEqual(
    [srec.is_a_snapshot, srec.is_a_template, srec.snapshot_of, srec.power_state],
    [true, true, vm, 'Halted'],
  );
  assert.ok((await xapi.call<string[]>('VM.get_snapshots', vm)).includes(snap));
  const snapDisk = await xapi.call<string>('VBD.get_VDI', (srec.VBDs as string[])[0]);
  assert.equal(await xapi.call('VDI.get_snapshot_of', snapDisk), disk);
  assert.equal(await xapi.call('VDI.get_is_a_snapshot', snapDisk), true);
  await rejectsWith(xapi.callAsync('VM.start', snap, false, false), 'VM_IS_SNAPSHOT', [snap, 'start']);
  await rejectsWith(xapi.callAsync('VM.revert', vm), 'REVERT_ONLY_ALLOWED_ON_SNAPSHOT', []);
  await lab.host.writeDisk(disk, 2 * MiB, Buffer.alloc(MiB, 7));
  await xapi.callAsync('VM.revert', snap);
  const after = await xapi.call<Rec>('VM.get_record', vm);
  assert.equal(after.power_state, 'Halted', 'a running VM is hard-shut-down by revert');
  const newDisk = await xapi.call<string>('VBD.get_VDI', (after.VBDs as string[])[0]);
  assert.notEqual(newDisk, disk, 'revert replaces the disk VDI');
  await rejectsWith(xapi.call('VDI.get_record', disk), 'HANDLE_INVALID', ['VDI', disk]);
  assert.deepEqual(await lab.host.readDisk(newDisk, 2 * MiB, MiB), before);
  // VM.destroy keeps the VDIs; the snapshot's own disk stays as well.
  await xapi.callAsync('VM.destroy', vm);
  assert.equal(await xapi.call('VDI.get_virtual_size', newDisk), 8 * MiB);
  await xapi.callAsync('VM.destroy', snap);
  assert.equal(await xapi.call('VDI.get_is_a_snapshot', snapDisk), true);
  await xapi.call('VDI.destroy', snapDisk);
  await xapi.call('VDI.destroy', newDisk);
});

test('an ISO dropped into the ISO SR folder appears on SR.scan; ISO SRs create no VDIs', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const isoSr = lab.describe().srs.find((s) => s.name === 'ISO library')!;
  const { copyFile } = await import('node:fs/promises');
  await copyFile(lab.describe().isos[0]!.path, `${isoSr.path}/copy.iso`);
  await xapi.callAsync('SR.scan', isoSr.ref);
  const [vdi] = await xapi.call<string[]>('VDI.get_by_name_label', 'copy.iso');
  assert.ok(vdi);
  const rec = await xapi.call<Rec>('VDI.get_record', vdi);
  assert.deepEqual([rec.location, rec.read_only, rec.type], ['copy.iso', true, 'user']);
  assert.equal(rec.virtual_size, lab.describe().isos[0]!.size);
  await rejectsWith(
    xapi.call('VDI.create', {
      SR: isoSr.ref,
      virtual_size: MiB,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    }),
    'SR_OPERATION_NOT_SUPPORTED',
    [isoSr.ref],
  );
});
