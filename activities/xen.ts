// XenServer activities: thin adapters over src/xapi, each through onPool. Each one is safe to retry — what a
// previous attempt made is found again by the build tag (other_config['xenimage-build'] = the build identity) —
// honours cancellation, heartbeats while it waits, and fails with typed, classified errors.
import { z } from 'zod';
import { attachInstallMedia, ensureBuildVm } from '../src/xapi/buildVm.js';
import { findSystemDisk as readSystemDisk } from '../src/xapi/lookup.js';
import { discardGeneratedIsos } from '../src/xapi/media.js';
import { ensureVendorDevice } from '../src/xapi/pvDrivers.js';
import { applyDeviceIdPolicy, removeDeviceId as removePlatformDeviceId } from '../src/xapi/platform.js';
import {
  cleanShutdown as cleanShutdownVm,
  hardShutdown as hardShutdownVm,
  startVm as startVmPower,
  waitForGuest as waitForGuestAgent,
  waitForHalt as waitForVmHalt,
} from '../src/xapi/power.js';
import { cleanupByTag as cleanupTagged, ensureSnapshot, revertTo } from '../src/xapi/snapshots.js';
import { describeVm } from '../src/xapi/sourceVm.js';
import { describeTagged } from '../src/xapi/tags.js';
import { findTargets } from '../src/xapi/targets.js';
import { findToolsIso } from '../src/xapi/toolsIso.js';
import {
  assertPoolSupports,
  ensureVtpm,
  readPoolPlatform,
  setSecureBoot,
  type PoolPlatform,
} from '../src/xapi/trust.js';
import type { ActivityDeps } from './deps.js';
import { BuildIdSchema, onPool, PoolNameSchema, RefSchema, VmInputSchema } from './pool.js';
import { withPoolSlot, withProgress } from './support.js';

const ValidateTargetsInputSchema = z
  .object({
    pool: PoolNameSchema,
    sr: z.string().min(1).optional(),
    network: z.string().min(1).optional(),
    /** ISOs that must exist in an ISO SR (by name). */
    isos: z.array(z.string().min(1)).optional(),
    template: z.string().min(1).optional(),
    /** Firmware and trust the build will ask of the pool: checked against what it offers. */
    platform: z
      .object({ firmware: z.enum(['bios', 'uefi']), secureBoot: z.boolean(), vtpm: z.boolean() })
      .strict()
      .optional(),
    /** Find the pool's Windows PV tools ISO (the build has no tools installer): PvToolsIsoNotFound without. */
    toolsIso: z.boolean().optional(),
  })
  .strict();

const CreateVmInputSchema = z
  .object({
    pool: PoolNameSchema,
    build: BuildIdSchema,
    name: z.string().min(1),
    description: z.string().optional(),
    memoryMiB: z.number().int().min(256, 'memoryMiB ≥ 256'),
    vcpus: z.number().int().min(1),
    diskGiB: z.number().int().min(1),
    sr: z.string().min(1).optional(),
    network: z.string().min(1).optional(),
    firmware: z.enum(['bios', 'uefi']).optional(),
    /** platform:secureboot (UEFI). */
    secureBoot: z.boolean().optional(),
    /** A VTPM on the VM (UEFI), created while it is halted. */
    vtpm: z.boolean().optional(),
    /** VM.has_vendor_device before the first boot, as the PV tools need it (absent: the template's). */
    vendorDevice: z.boolean().optional(),
  })
  .strict();

const AttachMediaInputSchema = z
  .object({
    pool: PoolNameSchema,
    vm: RefSchema,
    /** The install ISO by name in an ISO SR. */
    installIso: z.string().min(1),
    /** The answer ISO: the VDI prepareAnswerMedia made. */
    answerIso: RefSchema,
    /** The pool's PV tools ISO (validateTargets found it), in a third drive. */
    toolsIso: RefSchema.optional(),
  })
  .strict();

const WaitInputSchema = VmInputSchema.extend({ timeoutMs: z.number().int().positive() });
const WaitForGuestInputSchema = WaitInputSchema.extend({
  /** Only a report from another domain than this one counts (the guest rebooted since). */
  otherThanDomid: z.number().int().optional(),
});
const BuildInPoolSchema = z.object({ pool: PoolNameSchema, build: BuildIdSchema }).strict();

export function xenActivities(deps: ActivityDeps) {
  return {
    /**
     * Checks that the SR, network, ISOs and template exist, and that the pool offers the platform asked for
     * (PlatformUnsupported): typed non-retryable errors before anything is made.
     */
    validateTargets: onPool(
      deps,
      'validateTargets',
      ValidateTargetsInputSchema,
      async ({ platform, toolsIso, ...i }, conn) => {
        const targets = findTargets(conn, i);
        const tools = toolsIso ? await findToolsIso(conn) : undefined;
        let offered: PoolPlatform | undefined;
        if (platform) {
          offered = await readPoolPlatform(conn);
          assertPoolSupports(offered, platform);
        }
        return {
          pool: i.pool,
          ...targets,
          ...(offered ? { platform: offered } : {}),
          ...(tools ? { toolsIso: tools } : {}),
        };
      },
    ),

    /**
     * The build VM (clone of "Other install media", memory, VCPUs, boot order dc, firmware, disk, VIF, tag), then
     * platform:secureboot and its VTPM; a retry reuses all of it.
     */
    createVm: onPool(
      deps,
      'createVm',
      CreateVmInputSchema,
      async ({ pool: _pool, build, secureBoot, vtpm, vendorDevice, ...spec }, conn, signal) =>
        withProgress('creating the VM', async () => {
          const made = await ensureBuildVm(conn, build, spec, signal);
          if (vendorDevice !== undefined) await ensureVendorDevice(conn, made.vm, vendorDevice);
          const wanted = { firmware: spec.firmware ?? 'bios', secureBoot: secureBoot === true, vtpm: vtpm === true };
          await setSecureBoot(conn, made.vm, wanted);
          const tpm = wanted.vtpm ? await ensureVtpm(conn, made.vm) : undefined;
          return { ...made, ...(tpm ? { vtpm: { uuid: tpm.uuid, reused: tpm.reused } } : {}) };
        }),
    ),

    /** Two CD drives: the install ISO (userdevice 3, bootable) and the answer ISO (userdevice 1). Idempotent. */
    attachMedia: onPool(deps, 'attachMedia', AttachMediaInputSchema, async (i, conn, signal) =>
      attachInstallMedia(conn, i.vm, i.installIso, i.answerIso, signal, i.toolsIso),
    ),

    /** Starts the VM, holding one of the pool's `starts` slots (a build beyond the limit waits, queued). */
    startVm: onPool(deps, 'startVm', VmInputSchema, async (i, conn, signal) =>
      withPoolSlot(deps.pools.slots, i.pool, 'starts', signal, async () => ({
        result: await startVmPower(conn, i.vm, signal),
      })),
    ),

    /** A clean shutdown; a VM without PV drivers fails VmLacksPvDrivers (non-retryable), the workflow decides. */
    cleanShutdown: onPool(deps, 'cleanShutdown', VmInputSchema, async (i, conn, signal) =>
      withProgress('clean shutdown', async () => ({ result: await cleanShutdownVm(conn, i.vm, signal) })),
    ),

    hardShutdown: onPool(deps, 'hardShutdown', VmInputSchema, async (i, conn, signal) => ({
      result: await hardShutdownVm(conn, i.vm, signal),
    })),

    /** Waits (events, heartbeating) until the guest agent reports a usable IP and PV drivers. */
    waitForGuest: onPool(deps, 'waitForGuest', WaitForGuestInputSchema, async (i, conn, signal) =>
      withProgress('waiting for the guest agent', async () =>
        waitForGuestAgent(conn, i.vm, {
          timeoutMs: i.timeoutMs,
          otherThanDomid: i.otherThanDomid,
          signal,
          what: 'the guest agent to report an IP and PV drivers',
        }),
      ),
    ),

    /** Waits (events, heartbeating) until the VM is Halted. */
    waitForHalt: onPool(deps, 'waitForHalt', WaitInputSchema, async (i, conn, signal) =>
      withProgress('waiting for the VM to halt', async () => {
        await waitForVmHalt(conn, i.vm, { timeoutMs: i.timeoutMs, signal, what: 'the VM to halt' });
        return { powerState: 'Halted' as const };
      }),
    ),

    /** Removes platform:device_id and says whether it was set (the restart and re-check are the workflow's). */
    removeDeviceId: onPool(deps, 'removeDeviceId', VmInputSchema, async (i, conn) =>
      removePlatformDeviceId(conn, i.vm),
    ),

    /** platform:device_id by the build's policy (keep, or 0002); `changed` asks the workflow for a restart. */
    applyDeviceIdPolicy: onPool(
      deps,
      'applyDeviceIdPolicy',
      VmInputSchema.extend({ policy: z.enum(['keep', '0002']) }),
      async (i, conn) => applyDeviceIdPolicy(conn, i.vm, i.policy),
    ),

    snapshot: onPool(
      deps,
      'snapshot',
      z.object({ pool: PoolNameSchema, build: BuildIdSchema, vm: RefSchema, name: z.string().min(1) }).strict(),
      async (i, conn, signal) =>
        withProgress('snapshot', async () => ensureSnapshot(conn, i.build, i.vm, i.name, signal)),
    ),

    /** Reverts to the snapshot; the system disk is a new VDI afterwards, so it is returned. */
    revert: onPool(
      deps,
      'revert',
      z.object({ pool: PoolNameSchema, build: BuildIdSchema, snapshot: RefSchema }).strict(),
      async (i, conn, signal) => withProgress('revert', async () => revertTo(conn, i.build, i.snapshot, signal)),
    ),

    findSystemDisk: onPool(deps, 'findSystemDisk', VmInputSchema, async (i, conn) => readSystemDisk(conn, i.vm)),

    /** An existing VM by name or UUID, with what the from-VM flow needs to know. */
    findVm: onPool(
      deps,
      'findVm',
      z
        .object({
          pool: PoolNameSchema,
          vm: z.union([z.object({ name: z.string().min(1) }).strict(), z.object({ uuid: z.string().min(1) }).strict()]),
        })
        .strict(),
      async (i, conn) => {
        await conn.barrier();
        return describeVm(conn, i.vm);
      },
    ),

    /** What the build has in the pool (for a failure that keeps its leftovers): one line per VM, snapshot, VDI. */
    listTagged: onPool(deps, 'listTagged', BuildInPoolSchema, async (i, conn) => describeTagged(conn, i.build)),

    /** Destroys everything tagged with the build: VMs, snapshots, their disks, the answer ISO. */
    cleanupByTag: onPool(deps, 'cleanupByTag', BuildInPoolSchema, async (i, conn, signal) =>
      withProgress('cleanup', async () => cleanupTagged(conn, i.build, signal)),
    ),

    /** Ejects and destroys the build's answer ISO (it holds the build's secrets), even when the rest is kept. */
    discardAnswerMedia: onPool(deps, 'discardAnswerMedia', BuildInPoolSchema, async (i, conn, signal) => ({
      discarded: await discardGeneratedIsos(conn, i.build, signal),
    })),
  };
}
