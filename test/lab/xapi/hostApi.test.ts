// The host side of the lab as the simulated guests use it (src/lab/hostApi.ts), observed through a real XAPI
// client: guest power changes, guest metrics and disk I/O produce the records and events a real host produces.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { Xapi, XapiObject } from 'xen-api';
import type { PowerEvent } from '../../../src/lab/hostApi.js';
import { labClient, startTestLab } from '../../helpers/xapiLab.js';

const MiB = 1024 * 1024;

async function waitForObject(
  xapi: Xapi,
  ref: string,
  predicate: (o: XapiObject) => boolean,
  ms = 5000,
): Promise<XapiObject> {
  const deadline = Date.now() + ms;
  for (;;) {
    const o = xapi.getObjectByRef(ref, undefined as unknown as XapiObject);
    if (o && predicate(o)) return o;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${ref}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A VM as the workflow builds it: clone of "Other install media", provisioned disk, CD with the install ISO, VIF. */
async function buildVm(xapi: Xapi): Promise<{ vm: string; cd: string }> {
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
  const vm = await xapi.callAsync<string>('VM.clone', tpl, 'guest-vm');
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  const srUuid = await xapi.call<string>('SR.get_uuid', sr);
  await xapi.call(
    'VM.add_to_other_config',
    vm,
    'disks',
    `<provision><disk device="0" size="${64 * MiB}" sr="${srUuid}" bootable="true" type="system"/></provision>`,
  );
  await xapi.callAsync('VM.provision', vm);
  const [iso] = await xapi.call<string[]>('VDI.get_by_name_label', 'SERVER_EVAL_x64FRE_en-us.iso');
  const cd = await xapi.call<string>('VBD.create', {
    VM: vm,
    VDI: 'OpaqueRef:NULL',
    userdevice: '3',
    bootable: true,
    mode: 'RO',
    type: 'CD',
    empty: true,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  await xapi.call('VBD.insert', cd, iso);
  const [net] = await xapi.call<string[]>('network.get_all');
  await xapi.call('VIF.create', {
    device: '0',
    network: net,
    VM: vm,
    MAC: '',
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  return { vm, cd };
}

test('a started VM is visible to guests with its address, drives, disk and VIFs', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const events: PowerEvent[] = [];
  t.after(lab.host.onPowerEvent((e) => events.push(e)));
  const { vm } = await buildVm(xapi);
  assert.equal(lab.host.getVm(vm)?.powerState, 'Halted');
  await xapi.callAsync('VM.start', vm, false, false);

  const view = lab.host.getVm(vm);
  assert.ok(view);
  assert.equal(view.powerState, 'Running');
  assert.equal(view.domainType, 'hvm');
  assert.match(view.address, /^127\.\d+\.\d+\.\d+$/);
  assert.notEqual(view.address, '127.0.0.1');
  assert.equal(view.cdroms.length, 1);
  assert.equal(view.cdroms[0]?.isoName, 'SERVER_EVAL_x64FRE_en-us.iso');
  // The ISO is a real ISO 9660 image with the volume label of the scenario.
  const iso = await readFile(view.cdroms[0]!.isoPath!);
  assert.equal(iso.toString('latin1', 0x8001, 0x8006), 'CD001');
  assert.equal(iso.toString('latin1', 0x8028, 0x8028 + 32).trim(), 'SSS_X64FREE_EN-US_DV9');
  assert.equal(view.systemDisk?.virtualSize, 64 * MiB);
  assert.equal(view.vifs.length, 1);
  assert.match(view.vifs[0]!.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  assert.deepEqual(
    events.map((e) => [e.kind, e.cause]),
    [['started', 'api']],
  );
  assert.ok(lab.host.listVms().some((v) => v.ref === vm));
  // Templates and the control domain are not guests.
  assert.ok(lab.host.listVms().every((v) => !v.nameLabel.startsWith('Control domain')));
});

test('guest metrics reports create VM_guest_metrics and link it, with events', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const { vm } = await buildVm(xapi);
  await xapi.callAsync('VM.start', vm, false, false);
  const address = lab.host.getVm(vm)!.address;
  await lab.host.reportGuestMetrics(vm, {
    networks: { '0/ip': address, '0/ipv4/0': address },
    pvDriversVersion: { major: '9', minor: '4', micro: '0', build: '12' },
    pvDriversDetected: true,
    osVersion: { name: 'Microsoft Windows Server 2022 Standard', distro: 'windows', major: '10', minor: '0' },
    other: { 'feature-shutdown': '1', 'feature-poweroff': '1', 'has-vendor-device': '0' },
  });
  const vmObj = await waitForObject(xapi, vm, (o) => o.guest_metrics !== 'OpaqueRef:NULL');
  const gm = await waitForObject(xapi, vmObj.guest_metrics as string, () => true);
  assert.equal((gm.networks as Record<string, string>)['0/ip'], address);
  assert.equal(gm.PV_drivers_detected, true);
  assert.equal((gm.PV_drivers_version as Record<string, string>).major, '9');
  // With PV drivers, a clean shutdown is allowed and halts the VM.
  await xapi.callAsync('VM.clean_shutdown', vm);
  assert.equal(await xapi.call('VM.get_power_state', vm), 'Halted');
});

test('a guest-initiated halt: Halted, domid -1, VBDs detached, no API call, a vm mod event', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const { vm, cd } = await buildVm(xapi);
  await xapi.callAsync('VM.start', vm, false, false);
  const running = await waitForObject(xapi, vm, (o) => o.power_state === 'Running');
  assert.ok((running.domid as number) >= 1);
  assert.equal(await xapi.call('VBD.get_device', cd), 'xvdd');
  const events: PowerEvent[] = [];
  t.after(lab.host.onPowerEvent((e) => events.push(e)));
  await lab.host.guestShutdown(vm);
  const halted = await waitForObject(xapi, vm, (o) => o.power_state === 'Halted');
  assert.equal(halted.domid, -1);
  assert.equal(halted.resident_on, 'OpaqueRef:NULL');
  for (const vbd of halted.VBDs as string[]) assert.equal(await xapi.call('VBD.get_currently_attached', vbd), false);
  assert.equal(await xapi.call('VBD.get_device', cd), 'xvdd', 'device names stay after shutdown');
  assert.deepEqual(
    events.map((e) => [e.kind, e.cause]),
    [['halted', 'guest']],
  );
  await assert.rejects(lab.host.guestShutdown(vm), /not Running/);
});

test('a guest-initiated reboot gives a new domid and clears the guest metrics', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const { vm } = await buildVm(xapi);
  await xapi.callAsync('VM.start', vm, false, false);
  await lab.host.reportGuestMetrics(vm, {
    networks: {},
    pvDriversVersion: {},
    pvDriversDetected: false,
    osVersion: {},
    other: {},
  });
  const before = await xapi.call<Record<string, unknown>>('VM.get_record', vm);
  assert.notEqual(before.guest_metrics, 'OpaqueRef:NULL');
  await lab.host.guestReboot(vm);
  const after = await xapi.call<Record<string, unknown>>('VM.get_record', vm);
  assert.equal(after.power_state, 'Running');
  assert.notEqual(after.domid, before.domid);
  assert.equal(after.guest_metrics, 'OpaqueRef:NULL');
});

test('guests read and write real disk bytes; exports see them', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const { vm } = await buildVm(xapi);
  const disk = lab.host.getVm(vm)!.systemDisk!;
  const data = Buffer.from('xenimage guest bytes\n'.repeat(100));
  await lab.host.writeDisk(disk.vdiRef, 5 * MiB + 123, data);
  assert.deepEqual(await lab.host.readDisk(disk.vdiRef, 5 * MiB + 123, data.length), data);
  assert.deepEqual(await lab.host.readDisk(disk.vdiRef, 0, 16), Buffer.alloc(16));
  const [iso] = await xapi.call<string[]>('VDI.get_by_name_label', 'guest-tools.iso');
  await assert.rejects(lab.host.writeDisk(iso!, 0, Buffer.from('x')), /read-only/);
  assert.equal(lab.host.scaled(1000), 10);
});
