// Every fault scenario the lab ships, met by the facade and the activities: they recover (xen-api's retries,
// re-login, following the master, the activity retried as Temporal would) or fail typed, and a cleanup leaves
// nothing tagged behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { xenActivities } from '../../activities/xen.js';
import { contentBytes } from '../../src/lab/scenarios/content.js';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { SecretResolver } from '../../src/secrets.js';
import { connectPool } from '../../src/xapi/connect.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { findVm, systemDisk } from '../../src/xapi/lookup.js';
import { importIsoFile } from '../../src/xapi/media.js';
import { waitForHalt } from '../../src/xapi/power.js';
import { BUILD_TAG } from '../../src/xapi/tags.js';
import { XenimageError } from '../../src/errors.js';
import { testDeps } from '../helpers/deps.js';
import { beforeLabStops, startTestLab } from '../helpers/xapiLab.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** A lab of the test's own and the xen activities made from deps pointing at its pools file and secrets. */
async function useLab(t: TestContext, scenario: string) {
  const lab: XapiLab = await startTestLab(t, { scenario });
  const deps = testDeps({ stateDir: await tempDir(t), poolsFile: lab.poolsFile, secretsDir: lab.secretsDir });
  // The activities' connections close before the lab stops (else their event watch reports refused connections).
  beforeLabStops(lab, () => deps.close());
  return { lab, deps, xen: xenActivities(deps) };
}

/** `stall`: direct re-reads every `recheckMs` once event.from has been silent for `eventsStaleMs`. */
async function connect(lab: XapiLab, stall?: { recheckMs: number; eventsStaleMs: number }): Promise<XapiConnection> {
  const conn = await connectPool(
    lab.poolName,
    { poolsFile: lab.poolsFile, secrets: new SecretResolver({ dir: lab.secretsDir, env: {} }) },
    { eventPollDelayMs: 200, ...stall },
  );
  beforeLabStops(lab, () => conn.close());
  return conn;
}

function env(workflowId: string): MockActivityEnvironment {
  return new MockActivityEnvironment({ workflowExecution: { workflowId, runId: `${workflowId}-run` } });
}

/**
 * Runs an activity the way Temporal's retry policy would: again after a retryable failure (at most 3 attempts).
 * Returns the result and the failure types seen on the way.
 */
async function withRetries<A, R>(
  e: MockActivityEnvironment,
  fn: (input: A) => Promise<R>,
  input: A,
): Promise<{ result: R; failures: string[] }> {
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      return { result: (await e.run(fn, input)) as R, failures };
    } catch (err) {
      if (!(err instanceof ApplicationFailure) || err.nonRetryable || attempt >= 3) throw err;
      failures.push(err.type ?? 'unknown');
    }
  }
}

async function assertNothingTagged(lab: XapiLab, buildIds: string[]): Promise<void> {
  const conn = await connect(lab);
  await conn.barrier();
  const left = [...conn.all('VM'), ...conn.all('VDI')].filter((o) =>
    buildIds.includes(o.other_config[BUILD_TAG] ?? ''),
  );
  assert.deepEqual(
    left.map((o) => o.$ref),
    [],
    'nothing tagged remains',
  );
}

const spec = (lab: XapiLab, name: string, build: string) => ({
  pool: lab.poolName,
  build,
  name,
  memoryMiB: 1024,
  vcpus: 1,
  diskGiB: 1,
});

test('fault-connection-reset: read-only calls are retried by the client; a lost clone answer is adopted on retry', async (t) => {
  const { lab, xen } = await useLab(t, 'fault-connection-reset');
  const conn = await connect(lab);
  const [tpl] = await conn.call<string[]>('VM.get_by_name_label', 'Other install media');
  const rec = await conn.fetch('VM', tpl!); // 1st VM.get_record: reset before it runs; xen-api retries it
  assert.equal(rec.name_label, 'Other install media');
  const a = await withRetries(env('build-a'), xen.createVm, spec(lab, 'vm-a', 'build-a')); // VM.clone #1
  const b = await withRetries(env('build-b'), xen.createVm, spec(lab, 'vm-b', 'build-b')); // VM.clone #2: ran, answer lost
  assert.deepEqual(b.failures, ['XapiConnection']);
  assert.equal(b.result.reused, true, 'the retry adopted the clone whose answer was lost');
  assert.deepEqual(
    lab.faults.fired.map((f) => f.kind),
    ['connectionReset', 'connectionReset'],
  );
  const names = conn.all('VM').map((v) => v.name_label);
  assert.equal(names.filter((n) => n === 'vm-b').length, 1);
  assert.ok(!names.some((n) => n.startsWith('xenimage-')), 'no orphan clone');
  await env('build-a').run(xen.cleanupByTag, { pool: lab.poolName, build: 'build-a' });
  await env('build-b').run(xen.cleanupByTag, { pool: lab.poolName, build: 'build-b' });
  await assertNothingTagged(lab, ['build-a', 'build-b']);
  void a;
});

test('fault-http500: an HTTP 500 fails retryable; the retried activity and export succeed', async (t) => {
  const { lab, xen } = await useLab(t, 'fault-http500');
  const e = env('build-500');
  const { result: vm } = await withRetries(e, xen.createVm, spec(lab, 'vm-500', 'build-500'));
  const media = await withRetries(e, xen.attachMedia, {
    pool: lab.poolName,
    vm: vm.vm,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    answerIso: lab.describe().isos.find((i) => i.name === 'guest-tools.iso')!.ref,
  });
  assert.deepEqual(media.failures, ['XapiConnection']);
  const conn = await connect(lab);
  const iso = lab.describe().isos.find((i) => i.name === 'guest-tools.iso')!;
  const first = await conn.exportVdi(iso.ref, 'raw').catch((err: unknown) => err);
  assert.ok(first instanceof XenimageError && first.type === 'XapiConnection' && first.retryable);
  const { stream, task } = await conn.exportVdi(iso.ref, 'raw');
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  await task;
  assert.equal(n, iso.size);
  await e.run(xen.cleanupByTag, { pool: lab.poolName, build: 'build-500' });
  await assertNothingTagged(lab, ['build-500']);
});

test('fault-slow: slow answers only take longer', async (t) => {
  const { lab } = await useLab(t, 'fault-slow');
  const conn = await connect(lab);
  const [tpl] = await conn.call<string[]>('VM.get_by_name_label', 'Other install media');
  const started = Date.now();
  assert.equal((await conn.fetch('VM', tpl!)).name_label, 'Other install media');
  assert.ok(Date.now() - started >= 1400);
});

test('fault-session-expired: expired sessions are renewed without failing the activity', async (t) => {
  const { lab, xen } = await useLab(t, 'fault-session-expired');
  const e = env('build-session');
  const { result: vm } = await withRetries(e, xen.createVm, spec(lab, 'vm-session', 'build-session'));
  const media = await withRetries(e, xen.attachMedia, {
    pool: lab.poolName,
    vm: vm.vm,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    answerIso: lab.describe().isos.find((i) => i.name === 'guest-tools.iso')!.ref,
  });
  assert.deepEqual(media.failures, []);
  await withRetries(e, xen.startVm, { pool: lab.poolName, vm: vm.vm });
  await withRetries(e, xen.hardShutdown, { pool: lab.poolName, vm: vm.vm });
  const again = await withRetries(e, xen.startVm, { pool: lab.poolName, vm: vm.vm }); // VM.start #2: session expired first
  assert.deepEqual([again.result.result, again.failures], ['started', []]);
  assert.deepEqual(
    lab.faults.fired.map((f) => f.kind),
    ['sessionInvalid', 'sessionInvalid'],
  );
  await e.run(xen.cleanupByTag, { pool: lab.poolName, build: 'build-session' });
  await assertNothingTagged(lab, ['build-session']);
});

test('fault-host-is-slave: the activities follow the master that moved', async (t) => {
  const { lab, xen } = await useLab(t, 'fault-host-is-slave');
  const warmup = await connect(lab); // login #1
  const e = env('build-master');
  const { result: vm, failures } = await withRetries(e, xen.createVm, spec(lab, 'vm-master', 'build-master')); // login #2: HOST_IS_SLAVE
  assert.deepEqual(failures, []);
  assert.equal(lab.hosts.find((h) => h.master)?.name, 'xenserver-2');
  assert.ok(lab.faults.fired.some((f) => f.kind === 'hostIsSlave'));
  await e.run(xen.cleanupByTag, { pool: lab.poolName, build: 'build-master' });
  await assertNothingTagged(lab, ['build-master']);
  void vm;
  void warmup;
});

test('fault-export-cut: a cut export fails the task with VDI_IO_ERROR (retryable); the next export is whole', async (t) => {
  const { lab } = await useLab(t, 'fault-export-cut');
  const conn = await connect(lab);
  const hvm = findVm(conn, { name: 'legacy-hvm' });
  await conn.callAsync('VM.hard_shutdown', [hvm.$ref]);
  const disk = systemDisk(conn, hvm.$ref)!;
  const cut = await conn.exportVdi(disk.vdi, 'vhd');
  let bytes = 0;
  const streamErr = await (async () => {
    for await (const c of cut.stream) bytes += (c as Buffer).length;
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  const taskErr = await cut.task.then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(bytes <= 3 * MiB, `${bytes} bytes before the cut`);
  assert.ok(taskErr instanceof XenimageError && taskErr.type === 'XapiVdiIoError' && taskErr.retryable);
  void streamErr;
  const whole = await conn.exportVdi(disk.vdi, 'raw');
  const chunks: Buffer[] = [];
  for await (const c of whole.stream) chunks.push(c as Buffer);
  await whole.task;
  const raw = Buffer.concat(chunks);
  assert.deepEqual(
    raw.subarray(33 * MiB, 36 * MiB),
    contentBytes({ offsetMiB: 33, lengthMiB: 3, seed: 'legacy-hvm data' }),
  );
});

test('fault-import-io-error: the ISO import fails VDI_IO_ERROR (retryable); the retry lands the right bytes', async (t) => {
  const { lab, deps, xen } = await useLab(t, 'fault-import-io-error');
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'src'));
  await writeFile(
    path.join(dir, 'src', 'big.bin'),
    contentBytes({ offsetMiB: 0, lengthMiB: 3, seed: 'answer payload' }),
  );
  const iso = path.join(dir, 'answer.iso');
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'WINCFG', '-o', iso, path.join(dir, 'src')]);
  const e = env('build-import');
  // The import prepareAnswerMedia makes, retried as its activity would be after a retryable failure.
  const conn = await deps.pools.get(lab.poolName);
  const failures: string[] = [];
  let result: { vdi: string } | undefined;
  for (let attempt = 1; !result && attempt <= 3; attempt++) {
    try {
      result = await importIsoFile(conn, 'build-import', iso, { name: 'answer.iso' });
    } catch (err) {
      if (!(err instanceof XenimageError) || !err.retryable) throw err;
      failures.push(err.type);
    }
  }
  assert.ok(result, 'the import succeeded on a retry');
  assert.deepEqual(failures, ['XapiVdiIoError']);
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(iso);
  assert.deepEqual(await lab.host.readDisk(result.vdi, 0, bytes.length), bytes);
  await e.run(xen.cleanupByTag, { pool: lab.poolName, build: 'build-import' });
  await assertNothingTagged(lab, ['build-import']);
});

test('fault-event-stall: waits still end, from their direct re-reads', async (t) => {
  const { lab } = await useLab(t, 'fault-event-stall');
  const conn = await connect(lab, { recheckMs: 300, eventsStaleMs: 1000 });
  const [tpl] = await conn.call<string[]>('VM.get_by_name_label', 'Other install media');
  const vm = await conn.callAsync<string>('VM.clone', [tpl, 'stall']);
  await conn.call('VM.set_is_a_template', vm, false);
  await conn.callAsync('VM.start', [vm, false, false]);
  // The stall begins 2 s after the lab started: a change ends the poll in flight, and the client's next
  // event.from is the stalled one.
  await waitFor(
    'the event stall',
    async () => {
      await conn.call('VM.set_name_description', vm, `poke ${Date.now()}`);
      return lab.faults.fired.some((f) => f.kind === 'eventStall');
    },
    15_000,
    200,
  );
  const halted = waitForHalt(conn, vm, { timeoutMs: 10_000, what: 'halt' });
  await lab.host.guestShutdown(vm);
  await halted;
  assert.equal(conn.cached('VM', vm)?.power_state, 'Running', 'the cache is stale: the halt was seen by a direct read');
});
