// The xen activities in a mocked activity context against the real lab, built from deps of the test's own (no
// environment): the whole build sequence, idempotency (a second run of the same build finds its work), typed
// errors before anything is created, heartbeats, cancellation, the answer ISO discarded from a kept VM, and a
// cleanup that leaves nothing tagged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { xenActivities } from '../../activities/xen.js';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { importIsoFile } from '../../src/xapi/media.js';
import { BUILD_TAG } from '../../src/xapi/tags.js';
import { testDeps } from '../helpers/deps.js';
import { beforeLabStops, labClient, startTestLab } from '../helpers/xapiLab.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** A lab of the test's own and the xen activities made from deps pointing at its pools file and secrets. */
async function useLab(t: TestContext, scenario = 'default', extra: Record<string, unknown> = {}) {
  const lab: XapiLab = await startTestLab(t, { scenario, ...extra });
  const deps = testDeps({ stateDir: await tempDir(t), poolsFile: lab.poolsFile, secretsDir: lab.secretsDir });
  // The activities' connections close before the lab stops (else their event watch reports refused connections).
  beforeLabStops(lab, () => deps.close());
  return { lab, deps, xen: xenActivities(deps) };
}

function env(workflowId: string): MockActivityEnvironment {
  return new MockActivityEnvironment({
    workflowExecution: { workflowId, runId: `${workflowId}-run` },
    heartbeatTimeoutMs: 30_000,
  });
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

async function makeIso(dir: string): Promise<string> {
  const src = path.join(dir, 'answer');
  await mkdir(src, { recursive: true });
  await writeFile(path.join(src, 'Autounattend.xml'), '<unattend xmlns="urn:schemas-microsoft-com:unattend"/>\n');
  const iso = path.join(dir, 'answer.iso');
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'WINCFG', '-J', '-r', '-o', iso, src]);
  return iso;
}

/** Runs an activity in the mocked context (typed: the mock's own signature loses the result type). */
function call<A, R>(e: MockActivityEnvironment, fn: (input: A) => Promise<R>, input: A): Promise<R> {
  return e.run(fn, input) as Promise<R>;
}

test('validateTargets: typed non-retryable errors for unknown pool, SR, network, ISO; nothing created', async (t) => {
  const { lab, xen } = await useLab(t);
  const e = env('validate-1');
  const ok = await call(e, xen.validateTargets, { pool: lab.poolName, isos: ['SERVER_EVAL_x64FRE_en-us.iso'] });
  assert.equal(ok.sr.name, 'Local storage');
  assert.equal(ok.network.name, 'Pool-wide network associated with eth0');
  assert.equal(ok.isos[0]?.name, 'SERVER_EVAL_x64FRE_en-us.iso');
  const before = JSON.stringify(lab.describe());
  const cases: Array<[Parameters<typeof xen.validateTargets>[0], string]> = [
    [{ pool: 'nope' }, 'InvalidInput'],
    [{ pool: lab.poolName, sr: 'No such SR' }, 'XapiNotFound'],
    [{ pool: lab.poolName, sr: 'ISO library' }, 'XapiNotFound'],
    [{ pool: lab.poolName, network: 'No such network' }, 'XapiNotFound'],
    [{ pool: lab.poolName, isos: ['missing.iso'] }, 'XapiNotFound'],
  ];
  for (const [input, type] of cases) {
    const f = await failureOf(call(e, xen.validateTargets, input));
    assert.equal(f.type, type, JSON.stringify(input));
    assert.equal(f.nonRetryable, true);
  }
  const bad = await failureOf(
    call(e, xen.createVm, { pool: lab.poolName, build: 'b@1', name: 'x', memoryMiB: 1, vcpus: 1, diskGiB: 1 }),
  );
  assert.equal(bad.type, 'InvalidInput');
  assert.match(bad.message, /memoryMiB/);
  assert.equal(JSON.stringify(lab.describe()), before, 'nothing was created');
});

test('the build sequence, idempotent at every step, then a cleanup that leaves nothing tagged', async (t) => {
  const { lab, deps, xen } = await useLab(t);
  const build = 'windows-build-1@run-1';
  const pool = lab.poolName;
  const e = env('windows-build-1');
  const heartbeats: unknown[] = [];
  e.on('heartbeat', (d: unknown) => heartbeats.push(d));
  const spec = { pool, build, name: 'win-build', memoryMiB: 2048, vcpus: 2, diskGiB: 1 };
  const vm1 = await call(e, xen.createVm, spec);
  const vm2 = await call(e, xen.createVm, spec);
  assert.equal(vm2.vm, vm1.vm, 'the same build finds its VM');
  assert.equal(vm2.reused, true);
  assert.equal(lab.host.listVms().filter((v) => v.nameLabel === 'win-build').length, 1);
  const xapi = await labClient(lab);
  const rec = await xapi.call<Record<string, unknown>>('VM.get_record', vm1.vm);
  assert.equal((rec.other_config as Record<string, string>)[BUILD_TAG], build);
  assert.deepEqual(rec.HVM_boot_params, { order: 'dc', firmware: 'bios' });
  assert.deepEqual(
    [rec.memory_static_max, rec.VCPUs_max, rec.VCPUs_at_startup, rec.is_a_template],
    [2048 * 2 ** 20, 2, 2, false],
  );
  assert.equal((rec.VIFs as string[]).length, 1);

  // The answer ISO as prepareAnswerMedia imports it (src/xapi/media.ts), then the CD drives.
  const iso = await makeIso(await tempDir(t));
  const conn = await deps.pools.get(pool);
  const imported = await importIsoFile(conn, build, iso, { name: `answer-${build}.iso` });
  const media1 = await call(e, xen.attachMedia, {
    pool,
    vm: vm1.vm,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    answerIso: imported.vdi,
  });
  const media2 = await call(e, xen.attachMedia, {
    pool,
    vm: vm1.vm,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    answerIso: imported.vdi,
  });
  assert.deepEqual(media2, media1);
  const view = lab.host.getVm(vm1.vm)!;
  assert.deepEqual(
    view.cdroms.map((c) => [c.userdevice, c.isoName]),
    [
      ['1', `answer-${build}.iso`],
      ['3', 'SERVER_EVAL_x64FRE_en-us.iso'],
    ],
  );

  assert.deepEqual(await call(e, xen.startVm, { pool, vm: vm1.vm }), { result: 'started' });
  assert.deepEqual(await call(e, xen.startVm, { pool, vm: vm1.vm }), { result: 'already-running' });
  const guest = call(e, xen.waitForGuest, { pool, vm: vm1.vm, timeoutMs: 10_000 });
  const address = lab.host.getVm(vm1.vm)!.address;
  // First a link-local address without drivers (Windows before DHCP), then the real report.
  await lab.host.reportGuestMetrics(vm1.vm, {
    networks: { '0/ip': '169.254.3.4' },
    pvDriversVersion: {},
    pvDriversDetected: false,
    osVersion: {},
    other: {},
  });
  await lab.host.reportGuestMetrics(vm1.vm, {
    networks: { '0/ip': address, '0/ipv4/0': address },
    pvDriversVersion: { major: '9', minor: '4', micro: '0', build: '12' },
    pvDriversDetected: true,
    osVersion: { name: 'Microsoft Windows Server 2022 Standard' },
    other: { 'feature-shutdown': '1' },
  });
  const report = await guest;
  assert.equal(report.ip, address, 'the link-local address was not taken for the guest');
  assert.equal(report.pvDriversVersion.major, '9');
  assert.ok(heartbeats.some((h) => (h as { phase?: string }).phase === 'waiting for the guest agent'));

  await xapi.call('VM.add_to_platform', vm1.vm, 'device_id', '0002');
  assert.deepEqual(await call(e, xen.removeDeviceId, { pool, vm: vm1.vm }), { wasSet: true, value: '0002' });
  assert.deepEqual(
    await call(e, xen.removeDeviceId, { pool, vm: vm1.vm }),
    { wasSet: true, value: '0002' },
    'a retry gives the same answer',
  );
  assert.equal((await xapi.call<Record<string, string>>('VM.get_platform', vm1.vm)).device_id, undefined);

  const snap1 = await call(e, xen.snapshot, { pool, build, vm: vm1.vm, name: 'pre-sysprep' });
  const snap2 = await call(e, xen.snapshot, { pool, build, vm: vm1.vm, name: 'pre-sysprep' });
  assert.deepEqual([snap2.snapshot, snap2.reused], [snap1.snapshot, true]);
  const diskBefore = await call(e, xen.findSystemDisk, { pool, vm: vm1.vm });
  const reverted = await call(e, xen.revert, { pool, build, snapshot: snap1.snapshot });
  assert.notEqual(reverted.systemDisk, diskBefore.vdi, 'the system disk is a new VDI after a revert');
  assert.equal((await call(e, xen.findSystemDisk, { pool, vm: vm1.vm })).vdi, reverted.systemDisk);

  assert.deepEqual(await call(e, xen.startVm, { pool, vm: vm1.vm }), { result: 'started' });
  const halted = call(e, xen.waitForHalt, { pool, vm: vm1.vm, timeoutMs: 10_000 });
  await lab.host.guestShutdown(vm1.vm);
  assert.deepEqual(await halted, { powerState: 'Halted' });
  const found = await call(e, xen.findVm, { pool, vm: { name: 'win-build' } });
  assert.deepEqual(
    [found.ref, found.vmMode, found.powerState, found.systemDisk?.vdi],
    [vm1.vm, 'hvm', 'Halted', reverted.systemDisk],
  );

  await call(e, xen.startVm, { pool, vm: vm1.vm });
  // Another build's cleanup (same workflow ID, another run) finds nothing of this one.
  const other = await call(e, xen.cleanupByTag, { pool, build: 'windows-build-1@run-2' });
  assert.deepEqual([other.vms, other.snapshots, other.vdis], [[], [], []]);
  assert.deepEqual(
    (await call(e, xen.listTagged, { pool, build })).map((l) => l.split(' ')[0]),
    ['VM', 'snapshot', 'VDI', 'VDI', 'VDI'],
    "the VM, its snapshot, the answer ISO, the snapshot's disk and the disk after the revert",
  );
  const cleaned = await call(e, xen.cleanupByTag, { pool, build });
  assert.deepEqual(cleaned.vms, ['win-build']);
  assert.deepEqual(cleaned.snapshots, ['pre-sysprep']);
  assert.ok(cleaned.vdis.includes(`answer-${build}.iso`));
  await xapi.barrier();
  const leftovers = Object.values(xapi.objects.all).filter(
    (o) => (o.other_config as Record<string, string> | undefined)?.[BUILD_TAG] === build,
  );
  assert.deepEqual(leftovers, [], 'nothing tagged with the build remains');
  const vdis = await xapi.call<string[]>('VDI.get_all');
  assert.ok(!vdis.includes(reverted.systemDisk) && !vdis.includes(diskBefore.vdi) && !vdis.includes(imported.vdi));
  assert.deepEqual((await call(e, xen.cleanupByTag, { pool, build })).vms, [], 'a second cleanup finds nothing');
});

test('discardAnswerMedia: the answer ISO is ejected from a running VM that is kept, and destroyed', async (t) => {
  const { lab, deps, xen } = await useLab(t);
  const build = 'keep-1@run-1';
  const pool = lab.poolName;
  const e = env('keep-1');
  const vm = await call(e, xen.createVm, { pool, build, name: 'win-kept', memoryMiB: 1024, vcpus: 1, diskGiB: 1 });
  const conn = await deps.pools.get(pool);
  const iso = await importIsoFile(conn, build, await makeIso(await tempDir(t)), { name: 'answer-keep.iso' });
  await call(e, xen.attachMedia, { pool, vm: vm.vm, installIso: 'SERVER_EVAL_x64FRE_en-us.iso', answerIso: iso.vdi });
  await call(e, xen.startVm, { pool, vm: vm.vm });
  await call(e, xen.snapshot, { pool, build, vm: vm.vm, name: 'pre-sysprep' });
  const before = await call(e, xen.listTagged, { pool, build });
  assert.deepEqual(await call(e, xen.discardAnswerMedia, { pool, build }), { discarded: ['answer-keep.iso'] });
  const view = lab.host.getVm(vm.vm)!;
  assert.equal(view.powerState, 'Running', 'the kept VM still runs');
  assert.deepEqual(
    view.cdroms.map((c) => [c.userdevice, c.isoName ?? null]),
    [
      ['1', null],
      ['3', 'SERVER_EVAL_x64FRE_en-us.iso'],
    ],
    'the answer drive is empty, the install ISO stays',
  );
  const xapi = await labClient(lab);
  assert.ok(!(await xapi.call<string[]>('VDI.get_all')).includes(iso.vdi), 'the answer ISO VDI is gone');
  assert.deepEqual(
    await call(e, xen.listTagged, { pool, build }),
    before.filter((l) => !l.includes('answer-keep.iso')),
    'the VM, its snapshot and their disks are kept; only the answer ISO is gone',
  );
  assert.deepEqual(await call(e, xen.discardAnswerMedia, { pool, build }), { discarded: [] }, 'idempotent');
  await call(e, xen.cleanupByTag, { pool, build });
});

test('findVm on an existing pool: PV guests are vm_mode xen; clean shutdown without PV drivers fails typed', async (t) => {
  const { lab, xen } = await useLab(t, 'existing-vms');
  const pool = lab.poolName;
  const e = env('from-vm-1');
  const pv = await call(e, xen.findVm, { pool, vm: { name: 'debian-pv' } });
  assert.deepEqual(
    [pv.vmMode, pv.pvDrivers, pv.powerState, pv.systemDisk?.virtualSize],
    ['xen', true, 'Running', 64 * 2 ** 20],
  );
  const hvm = await call(e, xen.findVm, {
    pool,
    vm: { uuid: lab.describe().vms.find((v) => v.name === 'legacy-hvm')!.uuid },
  });
  assert.deepEqual([hvm.vmMode, hvm.pvDrivers], ['hvm', false]);
  const lacks = await failureOf(call(e, xen.cleanShutdown, { pool, vm: hvm.ref }));
  assert.deepEqual([lacks.type, lacks.nonRetryable], ['VmLacksPvDrivers', true]);
  assert.deepEqual(await call(e, xen.cleanShutdown, { pool, vm: pv.ref }), { result: 'halted' });
  assert.deepEqual(await call(e, xen.hardShutdown, { pool, vm: hvm.ref }), { result: 'halted' });
  assert.deepEqual(await call(e, xen.hardShutdown, { pool, vm: hvm.ref }), { result: 'already-halted' });
  const missing = await failureOf(call(e, xen.findVm, { pool, vm: { name: 'nope' } }));
  assert.deepEqual([missing.type, missing.nonRetryable], ['XapiNotFound', true]);
});

test('cancellation: a waiting activity ends as cancelled; a bounded wait ends typed', async (t) => {
  const { lab, xen } = await useLab(t, 'existing-vms');
  const pool = lab.poolName;
  const e = env('cancel-1');
  const pv = lab.describe().vms.find((v) => v.name === 'debian-pv')!;
  const heartbeat = new Promise<void>((resolve) => e.once('heartbeat', () => resolve()));
  const waiting = call(e, xen.waitForHalt, { pool, vm: pv.ref, timeoutMs: 60_000 });
  await heartbeat; // the wait has begun
  e.cancel();
  await assert.rejects(waiting, (err: unknown) => err instanceof CancelledFailure);
  const timeout = await failureOf(call(env('timeout-1'), xen.waitForHalt, { pool, vm: pv.ref, timeoutMs: 300 }));
  assert.deepEqual([timeout.type, timeout.nonRetryable], ['XapiWaitTimeout', true]);
});
