// XenServer activities (ARCHITECTURE.md §2): thin adapters over src/xapi. Each one is safe to retry — what a
// previous attempt made is found again by the build tag (other_config['xenimage-build'] = workflow ID) — honours
// cancellation, heartbeats while it waits, and fails with typed, classified errors.
import { loadConfig } from '../src/config.js';
import { InvalidInputError } from '../src/errors.js';
import { log } from '../src/log.js';
import { ensureBuildVm, ensureCd, INSTALL_TEMPLATE, type BuildVmSpec } from '../src/xapi/buildVm.js';
import { PoolConnections } from '../src/xapi/connect.js';
import type { XapiConnection } from '../src/xapi/connection.js';
import { findDiskSr, findIso, findNetwork, findTemplate, findVm as lookupVm, systemDisk } from '../src/xapi/lookup.js';
import { importIsoFile } from '../src/xapi/media.js';
import {
  cleanShutdown as cleanShutdownVm,
  hardShutdown as hardShutdownVm,
  startVm as startVmPower,
  waitForGuest as waitForGuestAgent,
  waitForHalt as waitForVmHalt,
  type GuestReport,
} from '../src/xapi/power.js';
import type { Ref } from '../src/xapi/records.js';
import { findTagged } from '../src/xapi/tags.js';
import { cleanupByTag as cleanupTagged, ensureSnapshot, revertTo, type CleanupReport } from '../src/xapi/snapshots.js';
import { activity, buildId, withProgress } from './support.js';

/** Install media goes in userdevice 3 (hdd, bootable), the answer media in 1 (hdb): both emulated IDE for Setup. */
export const INSTALL_CD_DEVICE = '3';
export const ANSWER_CD_DEVICE = '1';
/** Where removeDeviceId remembers what it removed, so a retry reports the same answer. */
const DEVICE_ID_MARK = 'xenimage-removed-device-id';

let connections: PoolConnections | undefined;

/** The worker's connections, one per pool (pools file and secrets from the config and environment). */
function pools(): PoolConnections {
  connections ??= new PoolConnections({ stateDir: loadConfig().stateDir }, { log: log().child({ component: 'xapi' }) });
  return connections;
}

/** Closes the worker's XAPI connections (worker shutdown, tests). */
export async function closeXenConnections(): Promise<void> {
  const open = connections;
  connections = undefined;
  await open?.closeAll();
}

/** Runs `fn` with this worker's connection to the pool (opened once, reopened when broken). */
export async function withPool<T>(pool: string, fn: (conn: XapiConnection) => Promise<T>): Promise<T> {
  return fn(await pools().get(pool));
}

/** An activity body on the pool's connection, with the activity's cancellation signal. */
function onPool<T>(pool: string, body: (conn: XapiConnection, signal: AbortSignal) => Promise<T>): Promise<T> {
  return activity((signal) => withPool(pool, (conn) => body(conn, signal)));
}

function requireRef(value: string | undefined, what: string): string {
  if (!value || !/^OpaqueRef:[0-9a-f-]{36}$/.test(value))
    throw new InvalidInputError(`${what} must be an XAPI reference (OpaqueRef:…)`, { what });
  return value;
}

export interface ValidateTargetsInput {
  pool: string;
  sr?: string;
  network?: string;
  /** ISOs that must exist in an ISO SR (by name). */
  isos?: string[];
  template?: string;
}

export interface ValidatedTargets {
  pool: string;
  sr: { name: string; uuid: string; ref: Ref };
  network: { name: string; uuid: string; ref: Ref };
  isos: Array<{ name: string; uuid: string; ref: Ref }>;
  template: { name: string; uuid: string };
}

/** Checks that the pool, SR, network, ISOs and template exist: typed non-retryable errors before anything is made. */
export async function validateTargets(input: ValidateTargetsInput): Promise<ValidatedTargets> {
  return onPool(input.pool, async (conn) => {
    const sr = findDiskSr(conn, input.sr);
    const network = findNetwork(conn, input.network);
    const isos = (input.isos ?? []).map((name) => findIso(conn, name));
    const template = findTemplate(conn, input.template ?? INSTALL_TEMPLATE);
    return {
      pool: input.pool,
      sr: { name: sr.name_label, uuid: sr.uuid, ref: sr.$ref },
      network: { name: network.name_label, uuid: network.uuid, ref: network.$ref },
      isos: isos.map((i) => ({ name: i.name_label, uuid: i.uuid, ref: i.$ref })),
      template: { name: template.name_label, uuid: template.uuid },
    };
  });
}

export interface CreateVmInput extends BuildVmSpec {
  pool: string;
}

export interface CreatedVm {
  vm: Ref;
  uuid: string;
  systemDisk: Ref;
  reused: boolean;
}

/** The build VM (clone of "Other install media", memory, VCPUs, boot order dc, system disk, VIF, tag); a retry reuses it. */
export async function createVm(input: CreateVmInput): Promise<CreatedVm> {
  return activity(async (signal) => {
    if (!(input.memoryMiB >= 256 && input.vcpus >= 1 && input.diskGiB >= 1)) {
      throw new InvalidInputError('memoryMiB ≥ 256, vcpus ≥ 1 and diskGiB ≥ 1 are required', {
        memoryMiB: input.memoryMiB,
        vcpus: input.vcpus,
        diskGiB: input.diskGiB,
      });
    }
    const id = buildId();
    return withPool(input.pool, async (conn) =>
      withProgress('creating the VM', async () => ensureBuildVm(conn, id, input, signal)),
    );
  });
}

export interface ImportIsoInput {
  pool: string;
  /** The ISO file on the worker. */
  file: string;
  /** name_label of the VDI (e.g. "answer-<build>.iso"). */
  name: string;
  /** Disk SR for the VDI; default: the pool's default SR. */
  sr?: string;
}

/**
 * Puts a generated ISO where a CD drive can use it. XAPI cannot create VDIs on an ISO SR, so the ISO is imported
 * (import_raw_vdi, raw) into a VDI on a disk SR, as Packer's XenServer builders do; the VDI is tagged.
 */
export async function importIso(input: ImportIsoInput): Promise<{ vdi: Ref; reused: boolean }> {
  return activity(async (signal) => {
    const id = buildId();
    return withPool(input.pool, async (conn) =>
      withProgress('importing the ISO', async (progress) =>
        importIsoFile(conn, id, input.file, {
          name: input.name,
          sr: input.sr,
          signal,
          onProgress: (bytes) => progress.update({ bytesDone: bytes }),
        }),
      ),
    );
  });
}

export interface AttachMediaInput {
  pool: string;
  vm: Ref;
  /** The install ISO by name in an ISO SR. */
  installIso: string;
  /** The answer ISO: the VDI importIso made. */
  answerIso: Ref;
}

/** Two CD drives: the install ISO (userdevice 3, bootable) and the answer ISO (userdevice 1). Idempotent. */
export async function attachMedia(input: AttachMediaInput): Promise<{ installCd: Ref; answerCd: Ref }> {
  return onPool(input.pool, async (conn, signal) => {
    const vm = requireRef(input.vm, 'vm');
    const install = findIso(conn, input.installIso);
    const answer = requireRef(input.answerIso, 'answerIso');
    const installCd = await ensureCd(conn, vm, INSTALL_CD_DEVICE, install.$ref, signal);
    const answerCd = await ensureCd(conn, vm, ANSWER_CD_DEVICE, answer, signal);
    return { installCd, answerCd };
  });
}

export interface VmInput {
  pool: string;
  vm: Ref;
}

export async function startVm(input: VmInput): Promise<{ result: 'started' | 'already-running' }> {
  return onPool(input.pool, async (conn, signal) => ({
    result: await startVmPower(conn, requireRef(input.vm, 'vm'), signal),
  }));
}

/** A clean shutdown; a VM without PV drivers fails VmLacksPvDrivers (non-retryable), the workflow decides. */
export async function cleanShutdown(input: VmInput): Promise<{ result: 'halted' | 'already-halted' }> {
  return onPool(input.pool, async (conn, signal) =>
    withProgress('clean shutdown', async () => ({
      result: await cleanShutdownVm(conn, requireRef(input.vm, 'vm'), signal),
    })),
  );
}

export async function hardShutdown(input: VmInput): Promise<{ result: 'halted' | 'already-halted' }> {
  return onPool(input.pool, async (conn, signal) => ({
    result: await hardShutdownVm(conn, requireRef(input.vm, 'vm'), signal),
  }));
}

export interface WaitInput extends VmInput {
  timeoutMs: number;
}

/** Waits (events, heartbeating) until the guest agent reports a usable IP and PV drivers. */
export async function waitForGuest(input: WaitInput): Promise<GuestReport> {
  return onPool(input.pool, async (conn, signal) =>
    withProgress('waiting for the guest agent', async () =>
      waitForGuestAgent(conn, requireRef(input.vm, 'vm'), {
        timeoutMs: input.timeoutMs,
        signal,
        what: 'the guest agent to report an IP and PV drivers',
      }),
    ),
  );
}

/** Waits (events, heartbeating) until the VM is Halted. */
export async function waitForHalt(input: WaitInput): Promise<{ powerState: 'Halted' }> {
  return onPool(input.pool, async (conn, signal) =>
    withProgress('waiting for the VM to halt', async () => {
      await waitForVmHalt(conn, requireRef(input.vm, 'vm'), {
        timeoutMs: input.timeoutMs,
        signal,
        what: 'the VM to halt',
      });
      return { powerState: 'Halted' as const };
    }),
  );
}

/**
 * Removes platform:device_id and says whether it was set (the reboot and re-check are the workflow's steps).
 * A retry after the removal gives the same answer (the removed value is remembered in other_config).
 */
export async function removeDeviceId(input: VmInput): Promise<{ wasSet: boolean; value?: string }> {
  return onPool(input.pool, async (conn) => {
    const vm = requireRef(input.vm, 'vm');
    const rec = await conn.fetch('VM', vm);
    const value = rec.platform.device_id;
    if (value !== undefined) {
      await conn.call('VM.remove_from_other_config', vm, DEVICE_ID_MARK);
      await conn.call('VM.add_to_other_config', vm, DEVICE_ID_MARK, value);
      await conn.call('VM.remove_from_platform', vm, 'device_id');
      return { wasSet: true, value };
    }
    const removed = rec.other_config[DEVICE_ID_MARK];
    return removed !== undefined ? { wasSet: true, value: removed } : { wasSet: false };
  });
}

export interface SnapshotInput extends VmInput {
  name: string;
}

export async function snapshot(input: SnapshotInput): Promise<{ snapshot: Ref; reused: boolean }> {
  return onPool(input.pool, async (conn, signal) =>
    withProgress('snapshot', async () =>
      ensureSnapshot(conn, buildId(), requireRef(input.vm, 'vm'), input.name, signal),
    ),
  );
}

/** Reverts to the snapshot; the system disk is a new VDI afterwards, so it is returned. */
export async function revert(input: { pool: string; snapshot: Ref }): Promise<{ vm: Ref; systemDisk: Ref }> {
  return onPool(input.pool, async (conn, signal) =>
    withProgress('revert', async () => revertTo(conn, buildId(), requireRef(input.snapshot, 'snapshot'), signal)),
  );
}

export async function findSystemDisk(input: VmInput): Promise<{ vbd: Ref; vdi: Ref; virtualSize: number }> {
  return onPool(input.pool, async (conn) => {
    const vm = requireRef(input.vm, 'vm');
    await conn.barrier();
    if (!conn.cached('VM', vm)) await conn.fetch('VM', vm);
    const disk = systemDisk(conn, vm);
    if (!disk) throw new InvalidInputError(`VM ${vm} has no disk at userdevice 0`, { vm });
    return disk;
  });
}

export interface FoundVm {
  ref: Ref;
  uuid: string;
  name: string;
  powerState: string;
  /** Glance's vm_mode: "hvm", or "xen" for PV guests. */
  vmMode: 'hvm' | 'xen';
  pvDrivers: boolean;
  systemDisk: { vdi: Ref; virtualSize: number } | null;
}

/** An existing VM by name or UUID, with what the from-VM flow needs to know. */
export async function findVm(input: { pool: string; vm: { name: string } | { uuid: string } }): Promise<FoundVm> {
  return onPool(input.pool, async (conn) => {
    await conn.barrier();
    return describeVm(conn, input.vm);
  });
}

function describeVm(conn: XapiConnection, by: { name: string } | { uuid: string }): FoundVm {
  const rec = lookupVm(conn, by);
  const pv =
    rec.domain_type === 'pv' ||
    rec.domain_type === 'pv_in_pvh' ||
    rec.domain_type === 'pvh' ||
    (rec.domain_type === 'unspecified' && rec.HVM_boot_policy === '');
  const gm = conn.cached('VM_guest_metrics', rec.guest_metrics);
  const disk = systemDisk(conn, rec.$ref);
  return {
    ref: rec.$ref,
    uuid: rec.uuid,
    name: rec.name_label,
    powerState: rec.power_state,
    vmMode: pv ? 'xen' : 'hvm',
    pvDrivers: gm !== undefined && (gm.PV_drivers_detected || gm.PV_drivers_version.major !== undefined),
    systemDisk: disk ? { vdi: disk.vdi, virtualSize: disk.virtualSize } : null,
  };
}

/** What the build has in the pool (for a failure that keeps its leftovers): one line per VM, snapshot, VDI. */
export async function listTagged(input: { pool: string }): Promise<string[]> {
  return onPool(input.pool, async (conn) => {
    await conn.barrier();
    const t = findTagged(conn, buildId());
    return [
      ...t.vms.map((v) => `VM "${v.name_label}" ${v.uuid}`),
      ...t.snapshots.map((v) => `snapshot "${v.name_label}" ${v.uuid}`),
      ...t.vdis.map((v) => `VDI "${v.name_label}" ${v.uuid}`),
    ];
  });
}

/** Destroys everything tagged with the build (default: this workflow's): VMs, snapshots, their disks, ISOs. */
export async function cleanupByTag(input: { pool: string; buildId?: string }): Promise<CleanupReport> {
  return onPool(input.pool, async (conn, signal) =>
    withProgress('cleanup', async () => cleanupTagged(conn, input.buildId ?? buildId(), signal)),
  );
}
