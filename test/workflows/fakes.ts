// Fake activities for the workflows' branches: every activity of the engine answers like its real one would on a
// good day, records how it was called, and can be replaced by a test to fail, wait or answer otherwise. Workers on
// the build's and the pool's task queues serve them (on the time-skipping test server: test/helpers/timeSkipping.ts),
// so each branch is tested in isolation.
import { CancelledFailure, Context } from '@temporalio/activity';
import { randomUUID } from 'node:crypto';
import type { Activities } from '../../activities/index.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { startTestWorker } from '../helpers/worker.js';

type ActivityName = keyof Activities;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fakes take whatever the workflow sends
type Fake = (input: any) => Promise<unknown>;

const ref = (n: number) => `OpaqueRef:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
export const FAKE_VM = ref(1);
export const FAKE_DISK = ref(2);
export const FAKE_ANSWER = ref(3);
export const FAKE_SNAPSHOT = ref(4);
const GiB = 2 ** 30;

/**
 * A fake that runs until its activity is cancelled. `started` tells whether it ran; `reason`, the reason the worker
 * gave it to stop (CANCELLED when the workflow cancelled it; NOT_FOUND, TIMED_OUT, WORKER_SHUTDOWN otherwise).
 */
export function blocking(): { fake: Fake; started(): boolean; reason(): string | undefined } {
  let started = false;
  let reason: string | undefined;
  return {
    started: () => started,
    reason: () => reason,
    fake: async () => {
      started = true;
      try {
        return await untilCancelled();
      } catch (err) {
        if (err instanceof CancelledFailure) reason = err.message;
        throw err;
      }
    },
  };
}

/** Waits until the activity is cancelled (heartbeating, so the cancellation reaches it), then throws it. */
export async function untilCancelled(): Promise<never> {
  const context = Context.current();
  const beat = setInterval(() => context.heartbeat(), 200);
  try {
    await context.cancelled;
  } finally {
    clearInterval(beat);
  }
  throw new Error('unreachable');
}

function defaults(): Record<ActivityName, Fake> {
  return {
    describeWorkerHost: async () => ({}),
    queuePollers: async () => ({ pollers: 1, identities: ['fake-worker'] }),
    checkSecrets: async (i: { refs: Array<{ secret: string }> }) => ({ checked: i.refs.map((r) => r.secret) }),
    checkInstallers: async () => ({ checked: 2 }),
    inspectSource: async () => ({
      format: 'qcow2',
      virtualSize: GiB,
      allocatedBytes: 1,
      vhdBytes: GiB,
      bridged: false,
    }),
    checkCloud: async () => ({ glance: 'http://glance.invalid' }),
    rotateGoldenImages: async (i: { imageId: string }) => ({ current: i.imageId, kept: [i.imageId], retired: [] }),
    convertToGlance: async () => published(),
    exportToGlance: async () => published(),
    normalizeVdi: async () => ({ vdi: ref(9), sr: 'Local storage', reused: false }),
    listBuildImages: async () => [],
    deleteBuildImage: async () => ({ deleted: [] }),
    verifyImage: async (i: { imageId: string; expectedVirtualSize: number }) => ({
      imageId: i.imageId,
      status: 'active',
      tgzBytes: 100,
      md5: 'md5-of-the-fake',
      entry: '0.vhd',
      vhdBytes: 200,
      virtualSize: i.expectedVirtualSize,
      allocatedBlocks: 1,
      creator: 'tap',
      creatorVersion: '1.3',
      checks: ['status active', 'single gzip member', 'sole entry 0.vhd', 'tap VHD structure', 'virtual size', 'md5'],
    }),
    validateTargets: async (i: { pool: string }) => ({
      pool: i.pool,
      sr: { name: 'Local storage', uuid: 'sr', ref: ref(5) },
      network: { name: 'eth0', uuid: 'net', ref: ref(6) },
      isos: [],
      template: { name: 'Other install media', uuid: 'tpl' },
    }),
    createVm: async () => ({ vm: FAKE_VM, uuid: 'vm-uuid', systemDisk: FAKE_DISK, reused: false }),
    attachMedia: async () => ({ installCd: ref(7), answerCd: ref(8) }),
    startVm: async () => ({ result: 'started' }),
    cleanShutdown: async () => ({ result: 'halted' }),
    hardShutdown: async () => ({ result: 'halted' }),
    waitForGuest: async () => ({
      ip: '192.0.2.10',
      pvDriversVersion: { major: '9', minor: '4' },
      pvDriversDetected: true,
      osVersion: {},
      other: {},
    }),
    waitForHalt: async () => ({ powerState: 'Halted' }),
    removeDeviceId: async () => ({ wasSet: false }),
    applyDeviceIdPolicy: async (i: { policy: 'keep' | '0002' }) => ({
      policy: i.policy,
      action: i.policy === 'keep' ? ('kept' as const) : ('set' as const),
      ...(i.policy === '0002' ? { value: '0002' } : {}),
      changed: i.policy === '0002',
    }),
    snapshot: async () => ({ snapshot: FAKE_SNAPSHOT, reused: false }),
    revert: async () => ({ vm: FAKE_VM, systemDisk: FAKE_DISK }),
    findSystemDisk: async () => ({ vbd: ref(10), vdi: FAKE_DISK, virtualSize: GiB }),
    findVm: async () => ({
      ref: FAKE_VM,
      uuid: 'vm-uuid',
      name: 'source',
      powerState: 'Running',
      vmMode: 'hvm',
      pvDrivers: true,
      systemDisk: { vdi: FAKE_DISK, virtualSize: GiB },
    }),
    listTagged: async () => ['VM "xenimage fake" vm-uuid'],
    cleanupByTag: async () => ({ vms: ['xenimage fake'], snapshots: [], vdis: ['disk'], kept: [] }),
    discardAnswerMedia: async () => ({ discarded: ['answer'] }),
    prepareAnswerMedia: async (i: { build: string }) => ({
      vdi: FAKE_ANSWER,
      reused: false,
      volumeLabel: 'XENIMAGE_CFG',
      adminPassword: { generated: 'windows-admin', build: i.build },
      winrm: { https: false, port: 5985, certificatePem: null },
    }),
    waitForWinrm: async () => ({ attempts: 1, elapsedMs: 1, computerName: 'WIN-FAKE' }),
    ensurePvTools: async () => ({ alreadyInstalled: true, exitCode: null, rebooted: false }),
    addAdministrator: async (i: { name: string }) => ({ name: i.name, created: true }),
    installCloudbaseInit: async () => ({ alreadyInstalled: false, exitCode: 0, startType: 'Manual' }),
    runSysprep: async () => ({
      imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE',
      tagFile: true,
      shutdownIssued: false,
      elapsedMs: 1,
    }),
    shutdownGuest: async () => ({ issued: true }),
    removeBuildFiles: async () => ({ removed: ['C:\\Windows\\Panther\\unattend.xml'] }),
    clearCaches: async () => ({ cleared: ['C:\\Windows\\Temp\\setup.tmp'] }),
    preSysprepChecks: async () => ({ checks: [{ check: 'appx', outcome: 'clear', detail: 'fake' }] }),
    checkHooks: async () => ({ found: [] }),
    runHooks: async (i: { point: string; names: string[] }) => ({
      runs: i.names.map((name) => ({ point: i.point, name, exitCode: 0, lines: ['ok'], elapsedMs: 1 })),
    }),
    sealGuest: async () => ({ launched: true, removesCertificate: false }),
    collectLogs: async () => ({
      files: [{ guestPath: 'C:\\Windows\\Panther\\setupact.log', lines: ['line'], truncated: false }],
      missing: [],
      bytes: 4,
      collectedAt: new Date().toISOString(),
    }),
    applySysprepRemedy: async (i: { remedy: string }) => ({ applied: i.remedy }),
    updateRound: async (i: { round: number }) => ({
      round: i.round,
      offered: [],
      installed: [],
      failed: [],
      skipped: [],
      rebootRequired: false,
      rebooted: false,
      reused: false,
    }),
    componentCleanup: async (i: { dism?: boolean; resetBase: boolean }) =>
      i.dism === false ? { resetBase: null, exitCode: null } : { resetBase: i.resetBase, exitCode: 0 },
  };
}

function published() {
  return {
    imageId: `image-${randomUUID().slice(0, 8)}`,
    reused: false,
    status: 'active',
    size: 100,
    checksum: 'md5-of-the-fake',
    osHashAlgo: null,
    osHashValue: null,
    virtualSize: GiB,
    vhdBytes: 200,
    tgzBytes: 100,
  };
}

type Fakes = Partial<Record<ActivityName, Fake>>;

export interface FakeWorld {
  taskQueue: string;
  pool: string;
  /** Activity names in the order they were called (every attempt). */
  calls: Array<{ name: ActivityName; input: unknown }>;
  called(name: ActivityName): unknown[];
  /** Activity names in call order. */
  names(): ActivityName[];
  /** Serves `overrides` from now on (over the defaults), with an empty call list: the next test's world. */
  use(overrides: Fakes): FakeWorld;
  /** Stops both workers. */
  close(): Promise<void>;
}

/**
 * Workers on a build queue and a pool queue of their own, serving the fakes with `overrides`. Starting workers
 * takes a second or two, so a file of tests that run one after the other shares one world through `use`.
 */
export async function fakeWorld(target: TemporalTarget, overrides: Fakes = {}): Promise<FakeWorld> {
  const base = defaults();
  let current = overrides;
  const activities = Object.fromEntries(
    (Object.keys(base) as ActivityName[]).map((name) => [
      name,
      async (input: unknown) => {
        world.calls.push({ name, input });
        return (current[name] ?? base[name])(input);
      },
    ]),
  );
  const pool = `fake-${randomUUID().slice(0, 8)}`;
  const build = await startTestWorker(target, 'branches', { activities });
  const poolWorker = await startTestWorker(target, 'branches-pool', { taskQueue: poolTaskQueue(pool), activities });
  const world: FakeWorld = {
    taskQueue: build.taskQueue,
    pool,
    calls: [],
    called: (name) => world.calls.filter((c) => c.name === name).map((c) => c.input),
    names: () => world.calls.map((c) => c.name),
    use: (next) => {
      current = next;
      world.calls = [];
      return world;
    },
    close: async () => {
      await Promise.all([build.shutdown(), poolWorker.shutdown()]);
    },
  };
  return world;
}
