// The VTPM class and UEFI firmware as XAPI has them (xapi_vtpm.ml, xapi_vm_lifecycle.ml, xapi_xenops.ml,
// xapi_vm.ml, xapi_vm_clone.ml, xapi_vm_snapshot.ml), driven through xen-api: VTPM.create's checks and their
// exact errors, VTPMs across clone/copy/snapshot/revert/destroy, VM.start's firmware, device-model, Secure Boot
// and vTPM rules, the NVRAM store and its updaters, has_vendor_device, and the product facts capability checks
// read (an old xapi without the VTPM class).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Xapi } from 'xen-api';
import type { XapiLab } from '../../../src/lab/xapi/index.js';
import { labClient, startTestLab } from '../../helpers/xapiLab.js';

const MiB = 1024 * 1024;

/** The API error of a call as [code, ...params]. */
async function failure(call: Promise<unknown>): Promise<string[]> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: string; params?: string[] };
    if (e.code) return [e.code, ...(e.params ?? [])];
    throw err;
  }
  throw new Error('the call succeeded');
}

/** A halted, installed HVM VM cloned from "Other install media" with a small disk (BIOS unless said). */
async function halted(xapi: Xapi, name: string, firmware: 'bios' | 'uefi' = 'bios'): Promise<string> {
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
  const vm = await xapi.call<string>('VM.clone', tpl, name);
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  const srUuid = await xapi.call<string>('SR.get_uuid', sr);
  await xapi.call('VM.remove_from_other_config', vm, 'disks');
  await xapi.call(
    'VM.add_to_other_config',
    vm,
    'disks',
    `<provision><disk device="0" size="${16 * MiB}" sr="${srUuid}" bootable="true" type="system"/></provision>`,
  );
  await xapi.call('VM.provision', vm);
  await xapi.call('VM.set_HVM_boot_params', vm, { firmware, order: 'dc' });
  return vm;
}

type Rec = Record<string, unknown>;
const rec = (xapi: Xapi, cls: string, ref: string) => xapi.call<Rec>(`${cls}.get_record`, ref);

async function startedLab(t: Parameters<typeof startTestLab>[0], scenario: object | string = 'default') {
  const lab = await startTestLab(t, { scenario });
  return { lab, xapi: await labClient(lab) };
}

test('VTPM.create on a halted VM: the record, VM.VTPMs, allowed operations; XAPI’s errors in its order', async (t) => {
  const { xapi } = await startedLab(t);
  const vm = await halted(xapi, 'vtpm-vm', 'uefi');
  assert.ok((await xapi.call<string[]>('VM.get_allowed_operations', vm)).includes('create_vtpm'));
  const vtpm = await xapi.call<string>('VTPM.create', vm, false);
  const r = await rec(xapi, 'VTPM', vtpm);
  assert.deepEqual(
    { ...r, uuid: typeof r.uuid },
    {
      uuid: 'string',
      allowed_operations: ['destroy'],
      current_operations: {},
      VM: vm,
      backend: 'OpaqueRef:NULL',
      persistence_backend: 'xapi',
      is_unique: false,
      is_protected: false,
    },
  );
  assert.deepEqual(await xapi.call('VM.get_VTPMs', vm), [vtpm]);
  assert.deepEqual(await xapi.call('VTPM.get_all'), [vtpm]);
  assert.equal(await xapi.call('VTPM.get_by_uuid', r.uuid), vtpm);
  assert.ok(!(await xapi.call<string[]>('VM.get_allowed_operations', vm)).includes('create_vtpm'));
  assert.deepEqual(await failure(xapi.call('VTPM.create', vm, true)), ['VTPM_MAX_AMOUNT_REACHED', '1']);

  await xapi.call('VM.start', vm, false, false);
  assert.deepEqual(await xapi.call('VTPM.get_allowed_operations', vtpm), [], 'destroy only while halted');
  // The VM operation check comes first (states joined with ", "); VTPM.destroy's own check joins with ";".
  const other = await halted(xapi, 'running-vm');
  await xapi.call('VM.start', other, false, false);
  assert.deepEqual(await failure(xapi.call('VTPM.create', other, false)), [
    'VM_BAD_POWER_STATE',
    other,
    'halted',
    'running',
  ]);
  assert.deepEqual(await failure(xapi.call('VTPM.destroy', vtpm)), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted;suspended',
    'running',
  ]);
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
  assert.deepEqual(await failure(xapi.call('VTPM.create', tpl, false)), ['VM_IS_TEMPLATE', tpl, 'create_vtpm']);
  await xapi.call('VM.hard_shutdown', vm);
  const snap = await xapi.call<string>('VM.snapshot', vm, 'snap');
  const snapVtpms = await xapi.call<string[]>('VM.get_VTPMs', snap);
  assert.equal(snapVtpms.length, 1);
  assert.deepEqual(await failure(xapi.call('VTPM.create', snap, false)), ['VM_IS_SNAPSHOT', snap, 'create_vtpm']);
  await xapi.call('VTPM.destroy', vtpm);
  assert.deepEqual(await xapi.call('VM.get_VTPMs', vm), []);
  assert.deepEqual(await failure(xapi.call('VTPM.get_record', vtpm)), ['HANDLE_INVALID', 'VTPM', vtpm]);
  assert.ok((await xapi.call<string[]>('VM.get_allowed_operations', vm)).includes('create_vtpm'));
});

test('a pool whose licence restricts vTPMs refuses VTPM.create and the vTPM a Windows 11 start asks for', async (t) => {
  const { xapi } = await startedLab(t, {
    name: 'restricted',
    extends: 'default',
    pool: { name: 'restricted-lab', restrictions: { restrict_vtpm: 'true' } },
  });
  const vm = await halted(xapi, 'restricted-vm', 'uefi');
  assert.deepEqual(await failure(xapi.call('VTPM.create', vm, false)), ['FEATURE_RESTRICTED', 'restrict_vtpm']);
  const [win11] = await xapi.call<string[]>('VM.get_by_name_label', 'Windows 11');
  const platform = await xapi.call<Record<string, string>>('VM.get_platform', win11);
  assert.equal(platform.vtpm, 'true', 'the Windows 11 template asks VM.start for a vTPM');
  const clone = await halted(xapi, 'win11-like', 'uefi');
  await xapi.call('VM.add_to_platform', clone, 'vtpm', 'true');
  assert.deepEqual(await failure(xapi.call('VM.start', clone, false, false)), ['FEATURE_RESTRICTED', 'restrict_vtpm']);
  assert.equal(await xapi.call('VM.get_power_state', clone), 'Halted');
});

test('VTPMs across clone, copy, snapshot, revert and destroy, as XAPI copies them', async (t) => {
  const { xapi } = await startedLab(t);
  const vm = await halted(xapi, 'source', 'uefi');
  const original = await xapi.call<string>('VTPM.create', vm, true);
  const originalUuid = await xapi.call<string>('VTPM.get_uuid', original);
  const vtpmOf = async (v: string): Promise<Rec & { ref: string }> => {
    const refs = await xapi.call<string[]>('VM.get_VTPMs', v);
    assert.equal(refs.length, 1);
    return rec(xapi, 'VTPM', refs[0]!).then((r) => ({ ref: refs[0]!, ...r }));
  };
  for (const [how, copy] of [
    ['clone', await xapi.call<string>('VM.clone', vm, 'a clone')],
    ['copy', await xapi.call<string>('VM.copy', vm, 'a copy', 'OpaqueRef:NULL')],
    ['snapshot', await xapi.call<string>('VM.snapshot', vm, 'a snapshot')],
  ] as const) {
    const v = await vtpmOf(copy);
    assert.notEqual(v.ref, original, how);
    assert.notEqual(v.uuid, originalUuid, `${how}: a new VTPM`);
    assert.equal(v.VM, copy);
    assert.equal(v.is_unique, true, `${how}: is_unique kept`);
  }
  const [snap] = await xapi.call<string[]>('VM.get_by_name_label', 'a snapshot');
  const snapVtpm = await vtpmOf(snap!);
  await xapi.call('VM.revert', snap);
  const reverted = await vtpmOf(vm);
  assert.notEqual(reverted.uuid, originalUuid, 'the VM’s VTPM is replaced');
  assert.notEqual(reverted.uuid, snapVtpm.uuid, 'by a copy of the snapshot’s');
  assert.deepEqual(await failure(xapi.call('VTPM.get_record', original)), ['HANDLE_INVALID', 'VTPM', original]);
  assert.equal((await vtpmOf(snap!)).uuid, snapVtpm.uuid, 'the snapshot keeps its own');
  await xapi.call('VM.revert', snap);
  assert.notEqual((await vtpmOf(vm)).uuid, reverted.uuid, 'a new copy at every revert');
  const count = (await xapi.call<string[]>('VTPM.get_all')).length;
  await xapi.call('VM.destroy', vm);
  assert.equal((await xapi.call<string[]>('VTPM.get_all')).length, count - 1, 'VM.destroy destroys its VTPMs');
});

test('VM.start: firmware, device model, Secure Boot "auto" resolved, NVRAM seeded; BIOS rules', async (t) => {
  const { lab, xapi } = await startedLab(t);
  const bad = await halted(xapi, 'bad firmware');
  await xapi.call('VM.set_HVM_boot_params', bad, { firmware: 'efi', order: 'dc' });
  assert.deepEqual(await failure(xapi.call('VM.start', bad, false, false)), [
    'INVALID_VALUE',
    "HVM-boot-params['firmware']",
    'efi',
  ]);
  const onBoot = await halted(xapi, 'bad on-boot', 'uefi');
  await xapi.call('VM.add_to_NVRAM', onBoot, 'EFI-variables-on-boot', 'sometimes');
  assert.deepEqual(await failure(xapi.call('VM.start', onBoot, false, false)), [
    'INVALID_VALUE',
    "NVRAM['EFI-variables-on-boot']",
    'sometimes',
  ]);
  const biosModel = await halted(xapi, 'bios on the uefi model');
  await xapi.call('VM.add_to_platform', biosModel, 'device-model', 'qemu-upstream-uefi');
  assert.deepEqual(await failure(xapi.call('VM.start', biosModel, false, false)), [
    'INVALID_VALUE',
    'platform:device-model',
    'BIOS boot is not supported with qemu-upstream-uefi',
  ]);
  const biosVtpm = await halted(xapi, 'bios with a vtpm');
  await xapi.call('VTPM.create', biosVtpm, false);
  assert.deepEqual(await failure(xapi.call('VM.start', biosVtpm, false, false)), [
    'NOT_IMPLEMENTED',
    'Booting BIOS VM with VTPMs attached',
  ]);

  // UEFI with secureboot=auto: the pool has Secure Boot certificates, so it becomes "true" at start.
  const uefi = await halted(xapi, 'uefi', 'uefi');
  await xapi.call('VM.remove_from_platform', uefi, 'secureboot');
  await xapi.call('VM.add_to_platform', uefi, 'secureboot', 'auto');
  assert.notEqual(await xapi.call('pool.get_uefi_certificates', lab.poolRef), '');
  assert.deepEqual(await xapi.call('VM.get_NVRAM', uefi), {}, 'no variable store before the first boot');
  await xapi.call('VM.start', uefi, false, false);
  const platform = await xapi.call<Record<string, string>>('VM.get_platform', uefi);
  assert.equal(platform.secureboot, 'true', 'written back as a literal');
  assert.equal(platform['device-model'], 'qemu-upstream-uefi');
  const nvram = await xapi.call<Record<string, string>>('VM.get_NVRAM', uefi);
  assert.ok(nvram['EFI-variables'], 'varstored wrote the store at the first boot');
  const view = lab.host.getVm(uefi)!;
  assert.deepEqual([view.firmware, view.secureBoot, view.vtpm], ['uefi', true, false]);
  // The NVRAM updaters are the `changing_NVRAM` operation: halted VMs only.
  assert.deepEqual(await failure(xapi.call('VM.remove_from_NVRAM', uefi, 'EFI-variables')), [
    'VM_BAD_POWER_STATE',
    uefi,
    'halted',
    'running',
  ]);
  await xapi.call('VM.hard_shutdown', uefi);
  const clone = await xapi.call<string>('VM.clone', uefi, 'uefi clone');
  assert.deepEqual(await xapi.call('VM.get_NVRAM', clone), nvram, 'NVRAM goes with the record');
  await xapi.call('VM.remove_from_NVRAM', uefi, 'EFI-variables');
  await xapi.call('VM.add_to_NVRAM', uefi, 'EFI-variables-on-boot', 'persist');
  assert.deepEqual(await failure(xapi.call('VM.add_to_NVRAM', uefi, 'EFI-variables-on-boot', 'reset')), [
    'MAP_DUPLICATE_KEY',
    'VM',
    'NVRAM',
    uefi,
    'EFI-variables-on-boot',
  ]);
  // Secure Boot turned on only after a first boot without it: no keys enrolled, setup mode (not enforced).
  const late = await halted(xapi, 'late secure boot', 'uefi');
  await xapi.call('VM.start', late, false, false);
  await xapi.call('VM.hard_shutdown', late);
  await xapi.call('VM.remove_from_platform', late, 'secureboot');
  await xapi.call('VM.add_to_platform', late, 'secureboot', 'true');
  await xapi.call('VM.start', late, false, false);
  assert.equal(lab.host.getVm(late)!.secureBoot, false, 'setup mode: Secure Boot not enforced');
  // Under BIOS, platform:secureboot starts (XAPI does not refuse it) and means nothing.
  const bios = await halted(xapi, 'bios secure boot');
  await xapi.call('VM.remove_from_platform', bios, 'secureboot');
  await xapi.call('VM.add_to_platform', bios, 'secureboot', 'true');
  await xapi.call('VM.start', bios, false, false);
  assert.equal(
    (await xapi.call<Record<string, string>>('VM.get_platform', bios))['device-model'],
    'qemu-upstream-compat',
  );
  assert.equal(lab.host.getVm(bios)!.secureBoot, false);
  assert.deepEqual(await xapi.call('VM.get_NVRAM', bios), {});
});

test('a Windows 11 clone gets its vTPM at the first start (platform:vtpm); has_vendor_device only while halted', async (t) => {
  const { lab, xapi } = await startedLab(t);
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Windows 11');
  const tplRec = await rec(xapi, 'VM', tpl!);
  assert.deepEqual(tplRec.HVM_boot_params, { firmware: 'uefi', order: 'cd' });
  assert.match(tplRec.recommendations as string, /field="supports-bios" value="no"/);
  const vm = await xapi.call<string>('VM.clone', tpl, 'win11');
  assert.deepEqual(await failure(xapi.call('VTPM.create', vm, false)), ['VM_IS_TEMPLATE', vm, 'create_vtpm']);
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  const disks = (tplRec.other_config as Record<string, string>).disks!.replace(
    'sr=""',
    `sr="${await xapi.call<string>('SR.get_uuid', sr)}"`,
  );
  await xapi.call('VM.remove_from_other_config', vm, 'disks');
  await xapi.call('VM.add_to_other_config', vm, 'disks', disks);
  await xapi.call('VM.provision', vm);
  assert.deepEqual(await xapi.call('VM.get_VTPMs', vm), []);
  await xapi.call('VM.set_has_vendor_device', vm, true);
  assert.equal(await xapi.call('VM.get_hardware_platform_version', vm), 2);
  await xapi.call('VM.start', vm, false, false);
  const [vtpm] = await xapi.call<string[]>('VM.get_VTPMs', vm);
  assert.ok(vtpm, 'VM.start created the vTPM');
  assert.equal(await xapi.call('VTPM.get_is_unique', vtpm), false);
  const view = lab.host.getVm(vm)!;
  assert.deepEqual([view.firmware, view.secureBoot, view.vtpm, view.hasVendorDevice], ['uefi', true, true, true]);
  assert.deepEqual(await failure(xapi.call('VM.set_has_vendor_device', vm, false)), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
});

async function softwareVersion(lab: XapiLab, xapi: Xapi): Promise<Record<string, string>> {
  return xapi.call<Record<string, string>>('host.get_software_version', lab.hosts[0]!.ref);
}

test('products: XenServer 8 and XCP-ng 8.3 have the VTPM class; XCP-ng 8.2 (xapi 1.249) does not', async (t) => {
  for (const [scenario, brand, version, xapiVersion] of [
    ['xenserver-8', 'XenServer', '8.4.0', '24.19'],
    ['xcp-ng-8.3', 'XCP-ng', '8.3.0', '24.19'],
  ] as const) {
    const { lab, xapi } = await startedLab(t, scenario);
    const sv = await softwareVersion(lab, xapi);
    assert.deepEqual([sv.product_brand, sv.product_version, sv.xapi], [brand, version, xapiVersion], scenario);
    assert.equal(
      (await xapi.call<Record<string, string>>('pool.get_restrictions', lab.poolRef)).restrict_vtpm,
      'false',
    );
    const tools = await xapi.call<string[]>('VDI.get_by_name_label', 'guest-tools.iso');
    assert.equal(tools.length, 1);
    assert.equal(await xapi.call('VDI.get_is_tools_iso', tools[0]), true, `${scenario}: the tools ISO is marked`);
    assert.deepEqual(await xapi.call('VDI.get_sm_config', tools[0]), { 'xs-tools': 'true' });
    const vtpms = await xapi.call<string[]>('VTPM.get_all');
    assert.equal(vtpms.length, 1, `${scenario}: its Windows VM has a vTPM`);
  }
  const { lab, xapi } = await startedLab(t, 'xcp-ng-8.2');
  const sv = await softwareVersion(lab, xapi);
  assert.deepEqual([sv.product_brand, sv.product_version, sv.xapi], ['XCP-ng', '8.2.1', '1.249']);
  assert.equal(await xapi.call('host.get_API_version_minor', lab.hosts[0]!.ref), 15);
  const restrictions = await xapi.call<Record<string, string>>('pool.get_restrictions', lab.poolRef);
  assert.equal(restrictions.restrict_vtpm, undefined);
  assert.deepEqual(await failure(xapi.call('VTPM.get_all')), ['MESSAGE_METHOD_UNKNOWN', 'VTPM.get_all']);
  const vm = await halted(xapi, 'old', 'uefi');
  assert.deepEqual(await failure(xapi.call('VTPM.create', vm, false)), [
    'MESSAGE_PARAMETER_COUNT_MISMATCH',
    'VTPM.create',
    '1',
    '2',
  ]);
  assert.deepEqual(await failure(xapi.call('VTPM.create', { VM: vm, backend: 'OpaqueRef:NULL' })), [
    'NOT_IMPLEMENTED',
    'VTPM.create',
  ]);
  const methods = await xapi.call<string[]>('system.listMethods');
  assert.ok(methods.includes('VTPM.create') && !methods.includes('VTPM.get_all'));
  assert.deepEqual(await xapi.call('VM.get_by_name_label', 'Windows 11'), [], 'no Windows 11 template on 8.2');
  // platform:vtpm means nothing to this xapi: the start creates no vTPM.
  await xapi.call('VM.add_to_platform', vm, 'vtpm', 'true');
  await xapi.call('VM.start', vm, false, false);
  assert.deepEqual(await xapi.call('VM.get_VTPMs', vm), []);
});
