// The build VM: a clone of "Other install media" with memory, VCPUs, BIOS boot order "dc", a provisioned system
// disk on the chosen SR and a VIF on the chosen network, tagged with the build. Every step checks what is already
// there, so a retry finds the tagged VM and finishes it instead of making a second one.
import type { XapiConnection } from './connection.js';
import { findDiskSr, findIso, findNetwork, findTemplate, systemDisk } from './lookup.js';
import { NULL_REF, type Ref } from './records.js';
import { findTagged, tag } from './tags.js';

export const INSTALL_TEMPLATE = 'Other install media';
/** Install media goes in userdevice 3 (hdd, bootable), the answer media in 1 (hdb): both emulated IDE for Setup. */
const INSTALL_CD_DEVICE = '3';
const ANSWER_CD_DEVICE = '1';
/** The pool's PV tools ISO, when the build has no tools installer on its answer media. */
const TOOLS_CD_DEVICE = '2';
const GiB = 2 ** 30;
const MiB = 2 ** 20;

export interface BuildVmSpec {
  name: string;
  description?: string;
  memoryMiB: number;
  vcpus: number;
  diskGiB: number;
  /** SR name_label (or uuid); default: the pool's default SR. */
  sr?: string | undefined;
  /** Network name_label (or uuid/bridge); default: the first network with a physical interface. */
  network?: string | undefined;
  firmware?: 'bios' | 'uefi';
  template?: string;
}

export interface BuildVm {
  vm: Ref;
  uuid: string;
  systemDisk: Ref;
  /** Whether this call found the VM a previous attempt made. */
  reused: boolean;
}

function provisionXml(sizeBytes: number, srUuid: string): string {
  return `<provision><disk device="0" size="${sizeBytes}" sr="${srUuid}" bootable="true" type="system"/></provision>`;
}

/** Creates the build VM, or finishes the one a previous attempt of the same build left. */
export async function ensureBuildVm(
  conn: XapiConnection,
  buildId: string,
  spec: BuildVmSpec,
  signal?: AbortSignal,
): Promise<BuildVm> {
  const sr = findDiskSr(conn, spec.sr);
  const network = findNetwork(conn, spec.network);
  await conn.barrier();
  const existing = findTagged(conn, buildId).vms;
  // The clone is named after the build until it is tagged: a clone whose answer was lost is found by that name.
  const cloneName = `xenimage-${buildId}`;
  let vm: Ref;
  let reused = existing.length > 0;
  if (reused) {
    vm = existing[0]!.$ref;
  } else {
    const orphan = conn.all('VM').find((v) => v.name_label === cloneName && !v.is_a_snapshot);
    reused = orphan !== undefined;
    if (orphan) vm = orphan.$ref;
    else {
      const template = findTemplate(conn, spec.template ?? INSTALL_TEMPLATE);
      vm = await conn.callAsync<Ref>('VM.clone', [template.$ref, cloneName], { signal });
    }
    // Tag first: from here on a retry or the cleanup finds it.
    await tag(conn, 'VM', vm, buildId);
  }
  const rec = await conn.fetch('VM', vm);
  if (rec.name_label !== spec.name) await conn.call('VM.set_name_label', vm, spec.name);
  if (rec.is_a_template) {
    const memory = spec.memoryMiB * MiB;
    await conn.call('VM.set_name_description', vm, spec.description ?? `xenimage build ${buildId}`);
    await conn.callAsync(
      'VM.set_memory_limits',
      [vm, Math.min(rec.memory_static_min, memory), memory, memory, memory],
      { signal },
    );
    // Grow VCPUs_max first, shrink VCPUs_at_startup first (XAPI checks at_startup ≤ max on each call).
    if (spec.vcpus > rec.VCPUs_max) {
      await conn.call('VM.set_VCPUs_max', vm, spec.vcpus);
      await conn.call('VM.set_VCPUs_at_startup', vm, spec.vcpus);
    } else {
      await conn.call('VM.set_VCPUs_at_startup', vm, spec.vcpus);
      await conn.call('VM.set_VCPUs_max', vm, spec.vcpus);
    }
    await conn.call('VM.set_HVM_boot_params', vm, { order: 'dc', firmware: spec.firmware ?? 'bios' });
    await conn.call('VM.remove_from_other_config', vm, 'disks');
    await conn.call('VM.add_to_other_config', vm, 'disks', provisionXml(spec.diskGiB * GiB, sr.uuid));
    await conn.callAsync('VM.provision', [vm], { signal });
  }
  await conn.barrier();
  const disk = systemDisk(conn, vm);
  if (!disk) throw new Error(`the build VM ${vm} has no system disk after provisioning`);
  await tag(conn, 'VDI', disk.vdi, buildId);
  const vifs = (conn.cached('VM', vm)?.VIFs ?? []).map((r) => conn.cached('VIF', r)).filter((v) => v !== undefined);
  if (!vifs.some((v) => v.device === '0')) {
    await conn.call('VIF.create', {
      device: '0',
      network: network.$ref,
      VM: vm,
      MAC: '',
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
  }
  await conn.barrier();
  const final = conn.cached('VM', vm)!;
  return { vm, uuid: final.uuid, systemDisk: disk.vdi, reused };
}

/** The CD drive at `userdevice` holding `iso` (created empty and RO when missing; another disc is ejected first). */
async function ensureCd(
  conn: XapiConnection,
  vm: Ref,
  userdevice: string,
  iso: Ref,
  signal?: AbortSignal,
): Promise<Ref> {
  await conn.barrier();
  const vbds = (conn.cached('VM', vm)?.VBDs ?? []).map((r) => conn.cached('VBD', r)).filter((v) => v !== undefined);
  let cd = vbds.find((v) => v.userdevice === userdevice);
  if (cd && cd.type !== 'CD') throw new Error(`userdevice ${userdevice} of ${vm} is a ${cd.type}, not a CD drive`);
  if (!cd) {
    const ref = await conn.call<Ref>('VBD.create', {
      VM: vm,
      VDI: NULL_REF,
      userdevice,
      bootable: userdevice === '3',
      mode: 'RO',
      type: 'CD',
      empty: true,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
    await conn.barrier();
    cd = conn.cached('VBD', ref)!;
  }
  if (!cd.empty && cd.VDI === iso) return cd.$ref;
  if (!cd.empty) await conn.callAsync('VBD.eject', [cd.$ref], { signal });
  await conn.callAsync('VBD.insert', [cd.$ref, iso], { signal });
  return cd.$ref;
}

/**
 * Two CD drives: the install ISO by name (userdevice 3, bootable) and the answer ISO's VDI (userdevice 1); a
 * third (userdevice 2) with the pool's tools ISO when given.
 */
export async function attachInstallMedia(
  conn: XapiConnection,
  vm: Ref,
  installIso: string,
  answerIso: Ref,
  signal?: AbortSignal,
  toolsIso?: Ref,
): Promise<{ installCd: Ref; answerCd: Ref; toolsCd?: Ref }> {
  const install = findIso(conn, installIso);
  const installCd = await ensureCd(conn, vm, INSTALL_CD_DEVICE, install.$ref, signal);
  const answerCd = await ensureCd(conn, vm, ANSWER_CD_DEVICE, answerIso, signal);
  if (!toolsIso) return { installCd, answerCd };
  return { installCd, answerCd, toolsCd: await ensureCd(conn, vm, TOOLS_CD_DEVICE, toolsIso, signal) };
}
