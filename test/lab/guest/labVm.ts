// Helpers for guest tests on the real XAPI lab: a VM built the way the workflow builds it, answer media put in
// the lab's ISO library and inserted as a second CD, and waits on XAPI records.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { Xapi, XapiObject } from 'xen-api';
import type { XapiLab } from '../../../src/lab/xapi/index.js';

const MiB = 1024 * 1024;

/** Clone of "Other install media", provisioned system disk, the Windows install ISO in drive 3, a VIF. */
export async function buildVm(xapi: Xapi, name: string, diskMiB = 64): Promise<string> {
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
  const vm = await xapi.callAsync<string>('VM.clone', tpl, name);
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  const srUuid = await xapi.call<string>('SR.get_uuid', sr);
  await xapi.call(
    'VM.add_to_other_config',
    vm,
    'disks',
    `<provision><disk device="0" size="${diskMiB * MiB}" sr="${srUuid}" bootable="true" type="system"/></provision>`,
  );
  await xapi.callAsync('VM.provision', vm);
  const [iso] = await xapi.call<string[]>('VDI.get_by_name_label', 'SERVER_EVAL_x64FRE_en-us.iso');
  await insertCd(xapi, vm, '3', iso!);
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
  return vm;
}

export async function insertCd(xapi: Xapi, vm: string, userdevice: string, vdi: string): Promise<void> {
  const cd = await xapi.call<string>('VBD.create', {
    VM: vm,
    VDI: 'OpaqueRef:NULL',
    userdevice,
    bootable: false,
    mode: 'RO',
    type: 'CD',
    empty: true,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  await xapi.call('VBD.insert', cd, vdi);
}

/** Copies an ISO into the lab's ISO library, rescans it, and returns the new VDI. */
export async function importIso(lab: XapiLab, xapi: Xapi, isoPath: string, fileName: string): Promise<string> {
  const sr = lab.describe().srs.find((s) => s.name === 'ISO library');
  if (!sr) throw new Error('the lab has no ISO library');
  await copyFile(isoPath, path.join(sr.path, fileName));
  await xapi.call('SR.scan', sr.ref);
  const [vdi] = await xapi.call<string[]>('VDI.get_by_name_label', fileName);
  if (!vdi) throw new Error(`${fileName} did not appear in the ISO library`);
  return vdi;
}

export async function guestMetrics(xapi: Xapi, vm: string): Promise<XapiObject | undefined> {
  const ref = await xapi.call<string>('VM.get_guest_metrics', vm);
  if (ref === 'OpaqueRef:NULL') return undefined;
  return xapi.call<XapiObject>('VM_guest_metrics.get_record', ref);
}
