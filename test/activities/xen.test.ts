// The xen activities in a mocked activity context against the real lab: the whole build sequence, idempotency
// (a second run of the same workflow finds its work), typed errors before anything is created, heartbeats,
// cancellation, and a cleanup that leaves nothing tagged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as xen from '../../activities/xen.js';
import { BUILD_TAG_KEY } from '../../activities/support.js';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { BUILD_TAG } from '../../src/xapi/tags.js';
import { labClient, startTestLab } from '../helpers/xapiLab.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** Points the activities at the lab's pools file and secrets, for this test. */
async function useLab(t: TestContext, scenario = 'default', extra: Record<string, unknown> = {}): Promise<XapiLab> {
  const lab = await startTestLab(t, { scenario, ...extra });
  const saved = { pools: process.env.XENIMAGE_POOLS_FILE, secrets: process.env.XENIMAGE_SECRETS_DIR };
  process.env.XENIMAGE_POOLS_FILE = lab.poolsFile;
  process.env.XENIMAGE_SECRETS_DIR = lab.secretsDir;
  t.after(async () => {
    await xen.closeXenConnections();
    process.env.XENIMAGE_POOLS_FILE = saved.pools;
    process.env.XENIMAGE_SECRETS_DIR = saved.secrets;
  });
  return lab;
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

test('the build tag key is the one the activities share', () => {
  assert.equal(BUILD_TAG, BUILD_TAG_KEY);
});

test('validateTargets: typed non-retryable errors for unknown pool, SR, network, ISO; nothing created', async (t) => {
  const lab = await useLab(t);
  const e = env('validate-1');
  const ok = await call(e, xen.validateTargets, { pool: lab.poolName, isos: ['SERVER_EVAL_x64FRE_en-us.iso'] });
  assert.equal(ok.sr.name, 'Local storage');
  assert.equal(ok.network.name, 'Pool-wide network associated with eth0');
  assert.equal(ok.isos[0]?.name, 'SERVER_EVAL_x64FRE_en-us.iso');
  const before = JSON.stringify(lab.describe());
  for (const [input, type] of [
    [{ pool: 'nope' }, 'InvalidInput'],
    [{ pool: lab.poolName, sr: 'No such SR' }, 'XapiNotFound'],
    [{ pool: lab.poolName, sr: 'ISO library' }, 'XapiNotFound'],
    [{ pool: lab.poolName, network: 'No such network' }, 'XapiNotFound'],
    [{ pool: lab.poolName, isos: ['missing.iso'] }, 'XapiNotFound'],
  ] as const) {
    const f = await failureOf(call(e, xen.validateTargets, input as xen.ValidateTargetsInput));
    assert.equal(f.type, type, JSON.stringify(input));
    assert.equal(f.nonRetryable, true);
  }
  const bad = await failureOf(
    call(e, xen.createVm, { pool: lab.poolName, name: 'x', memoryMiB: 1, vcpus: 1, diskGiB: 1 }),
  );
  assert.equal(bad.type, 'InvalidInput');
  assert.equal(JSON.stringify(lab.describe()), before, 'nothing was created');
});

test('the build sequence, idempotent at every step, then a cleanup that leaves nothing tagged', async (t) => {
  const lab = await useLab(t);
  const id = 'windows-build-1';
  const e = env(id);
  const heartbeats: unknown[] = [];
  e.on('heartbeat', (d: unknown) => heartbeats.push(d));
  const spec = { pool: lab.poolName, name: 'win-build', memoryMiB: 2048, vcpus: 2, diskGiB: 1 };
  const vm1 = await call(e, xen.createVm, spec);
  const vm2 = await call(e, xen.createVm, spec);
  assert.equal(vm2.vm, vm1.vm, 'the same workflow finds its VM');
  assert.equal(vm2.reused, true);
  assert.equal(lab.host.listVms().filter((v) => v.nameLabel === 'win-build').length, 1);
  const xapi = await labClient(lab);
  const rec = await xapi.call<Record<string, unknown>>('VM.get_record', vm1.vm);
  assert.equal((rec.other_config as Record<string, string>)[BUILD_TAG], id);
  assert.deepEqual(rec.HVM_boot_params, { order: 'dc', firmware: 'bios' });
  assert.deepEqual(
    [rec.memory_static_max, rec.VCPUs_max, rec.VCPUs_at_startup, rec.is_a_template],
    [2048 * 2 ** 20, 2, 2, false],
  );
  assert.equal((rec.VIFs as string[]).length, 1);

  const iso = await makeIso(await tempDir(t));
  const imported = await call(e, xen.importIso, { pool: lab.poolName, file: iso, name: `answer-${id}.iso` });
  const again = await call(e, xen.importIso, { pool: lab.poolName, file: iso, name: `answer-${id}.iso` });
  assert.deepEqual([again.vdi, again.reused], [imported.vdi, true]);
  const media1 = await call(e, xen.attachMedia, {
    pool: lab.poolName,
    vm: vm1.vm,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    answerIso: imported.vdi,
  });
  const media2 = await call(e, xen.attachMedia, {
    pool: lab.poolName,
    vm: vm1.vm,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    answerIso: imported.vdi,
  });
  assert.deepEqual(media2, media1);
  const view = lab.host.getVm(vm1.vm)!;
  assert.deepEqual(
    view.cdroms.map((c) => [c.userdevice, c.isoName]),
    [
      ['1', `answer-${id}.iso`],
      ['3', 'SERVER_EVAL_x64FRE_en-us.iso'],
    ],
  );

  assert.deepEqual(await call(e, xen.startVm, { pool: lab.poolName, vm: vm1.vm }), { result: 'started' });
  assert.deepEqual(await call(e, xen.startVm, { pool: lab.poolName, vm: vm1.vm }), { result: 'already-running' });
  const guest = call(e, xen.waitForGuest, { pool: lab.poolName, vm: vm1.vm, timeoutMs: 10_000 });
  const address = lab.host.getVm(vm1.vm)!.address;
  // First a link-local address without drivers (Windows before DHCP), then the real report.
  await lab.host.reportGuestMetrics(vm1.vm, {
    networks: { '0/ip': '169.254.3.4' },
    pvDriversVersion: {},
    pvDriversDetected: false,
    osVersion: {},
    other: {},
  });
  await new Promise((r) => setTimeout(r, 100));
  await lab.host.reportGuestMetrics(vm1.vm, {
    networks: { '0/ip': address, '0/ipv4/0': address },
    pvDriversVersion: { major: '9', minor: '4', micro: '0', build: '12' },
    pvDriversDetected: true,
    osVersion: { name: 'Microsoft Windows Server 2022 Standard' },
    other: { 'feature-shutdown': '1' },
  });
  const report = await guest;
  assert.equal(report.ip, address);
  assert.equal(report.pvDriversVersion.major, '9');
  assert.ok(heartbeats.some((h) => (h as { phase?: string }).phase === 'waiting for the guest agent'));

  await xapi.call('VM.add_to_platform', vm1.vm, 'device_id', '0002');
  assert.deepEqual(await call(e, xen.removeDeviceId, { pool: lab.poolName, vm: vm1.vm }), {
    wasSet: true,
    value: '0002',
  });
  assert.deepEqual(
    await call(e, xen.removeDeviceId, { pool: lab.poolName, vm: vm1.vm }),
    { wasSet: true, value: '0002' },
    'a retry gives the same answer',
  );
  assert.equal((await xapi.call<Record<string, string>>('VM.get_platform', vm1.vm)).device_id, undefined);

  const snap1 = await call(e, xen.snapshot, { pool: lab.poolName, vm: vm1.vm, name: 'pre-sysprep' });
  const snap2 = await call(e, xen.snapshot, { pool: lab.poolName, vm: vm1.vm, name: 'pre-sysprep' });
  assert.deepEqual([snap2.snapshot, snap2.reused], [snap1.snapshot, true]);
  const diskBefore = await call(e, xen.findSystemDisk, { pool: lab.poolName, vm: vm1.vm });
  const reverted = await call(e, xen.revert, { pool: lab.poolName, snapshot: snap1.snapshot });
  assert.notEqual(reverted.systemDisk, diskBefore.vdi, 'the system disk is a new VDI after a revert');
  assert.equal((await call(e, xen.findSystemDisk, { pool: lab.poolName, vm: vm1.vm })).vdi, reverted.systemDisk);

  assert.deepEqual(await call(e, xen.startVm, { pool: lab.poolName, vm: vm1.vm }), { result: 'started' });
  const halted = call(e, xen.waitForHalt, { pool: lab.poolName, vm: vm1.vm, timeoutMs: 10_000 });
  await lab.host.guestShutdown(vm1.vm);
  assert.deepEqual(await halted, { powerState: 'Halted' });
  const found = await call(e, xen.findVm, { pool: lab.poolName, vm: { name: 'win-build' } });
  assert.deepEqual(
    [found.ref, found.vmMode, found.powerState, found.systemDisk?.vdi],
    [vm1.vm, 'hvm', 'Halted', reverted.systemDisk],
  );

  await call(e, xen.startVm, { pool: lab.poolName, vm: vm1.vm });
  const cleaned = await call(e, xen.cleanupByTag, { pool: lab.poolName });
  assert.deepEqual(cleaned.vms, ['win-build']);
  assert.deepEqual(cleaned.snapshots, ['pre-sysprep']);
  assert.ok(cleaned.vdis.includes(`answer-${id}.iso`));
  await xapi.barrier();
  const leftovers = Object.values(xapi.objects.all).filter(
    (o) => (o.other_config as Record<string, string> | undefined)?.[BUILD_TAG] === id,
  );
  assert.deepEqual(leftovers, [], 'nothing tagged with the build remains');
  const vdis = await xapi.call<string[]>('VDI.get_all');
  assert.ok(!vdis.includes(reverted.systemDisk) && !vdis.includes(diskBefore.vdi) && !vdis.includes(imported.vdi));
  assert.deepEqual((await call(e, xen.cleanupByTag, { pool: lab.poolName })).vms, [], 'a second cleanup finds nothing');
});

test('findVm on an existing pool: PV guests are vm_mode xen; clean shutdown without PV drivers fails typed', async (t) => {
  const lab = await useLab(t, 'existing-vms');
  const e = env('from-vm-1');
  const pv = await call(e, xen.findVm, { pool: lab.poolName, vm: { name: 'debian-pv' } });
  assert.deepEqual(
    [pv.vmMode, pv.pvDrivers, pv.powerState, pv.systemDisk?.virtualSize],
    ['xen', true, 'Running', 64 * 2 ** 20],
  );
  const hvm = await call(e, xen.findVm, {
    pool: lab.poolName,
    vm: { uuid: lab.describe().vms.find((v) => v.name === 'legacy-hvm')!.uuid },
  });
  assert.deepEqual([hvm.vmMode, hvm.pvDrivers], ['hvm', false]);
  const lacks = await failureOf(call(e, xen.cleanShutdown, { pool: lab.poolName, vm: hvm.ref }));
  assert.deepEqual([lacks.type, lacks.nonRetryable], ['VmLacksPvDrivers', true]);
  assert.deepEqual(await call(e, xen.cleanShutdown, { pool: lab.poolName, vm: pv.ref }), { result: 'halted' });
  assert.deepEqual(await call(e, xen.hardShutdown, { pool: lab.poolName, vm: hvm.ref }), { result: 'halted' });
  assert.deepEqual(await call(e, xen.hardShutdown, { pool: lab.poolName, vm: hvm.ref }), { result: 'already-halted' });
  const missing = await failureOf(call(e, xen.findVm, { pool: lab.poolName, vm: { name: 'nope' } }));
  assert.deepEqual([missing.type, missing.nonRetryable], ['XapiNotFound', true]);
});

test('cancellation: a waiting activity ends as cancelled', async (t) => {
  const lab = await useLab(t, 'existing-vms');
  const e = env('cancel-1');
  const pv = lab.describe().vms.find((v) => v.name === 'debian-pv')!;
  const waiting = call(e, xen.waitForHalt, { pool: lab.poolName, vm: pv.ref, timeoutMs: 60_000 });
  setTimeout(() => e.cancel(), 200);
  await assert.rejects(waiting, (err: unknown) => err instanceof CancelledFailure);
  const timeout = await failureOf(
    call(env('timeout-1'), xen.waitForHalt, { pool: lab.poolName, vm: pv.ref, timeoutMs: 300 }),
  );
  assert.deepEqual([timeout.type, timeout.nonRetryable], ['XapiWaitTimeout', true]);
});
