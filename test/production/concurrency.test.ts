// Concurrency by design (issue 9.1): builds beyond a pool's limit wait their turn, shown as queued in `progress`,
// and all finish; a pool whose workers are busy is not an unknown pool; a pool nobody serves is (Temporal is
// asked for the queue's pollers).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { VmImageInput } from '../../src/contracts/vmImageInput.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import { readPoolsFile, writePoolEntry } from '../../src/xapi/pools.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { labConnection, rootFailure, waitForProgress } from '../helpers/builds.js';
import { testDeps } from '../helpers/deps.js';
import { startTestWorker } from '../helpers/worker.js';

const TUNING = { heartbeatTimeout: '10s', retryInitialInterval: '1s', maxRetryInterval: '5s', transferTimeout: '30m' };

function vmInput(lab: BuildLab, vm: string, extra: Partial<VmImageInput> = {}): VmImageInput {
  return {
    pool: lab.pool,
    vm: { name: vm },
    image: { name: `from-${vm}` },
    osType: 'linux',
    cloud: lab.openstack.cloud,
    tuning: TUNING,
    ...extra,
  };
}

/** A lab whose workers this file starts: the pool's queue with `poolSlots` activity slots. */
async function labWithWorkers(poolSlots: number): Promise<BuildLab> {
  const lab = await startBuildLab({ scenario: 'existing-vms', workers: 'none' });
  const deps = testDeps({
    stateDir: lab.dir,
    secretsDir: lab.secretsDir,
    poolsFile: lab.workerEnv.XENIMAGE_POOLS_FILE!,
    cloudsFile: lab.openstack.cloudsFile,
  });
  await startTestWorker(lab.target, 'build', { taskQueue: lab.taskQueue, deps });
  await startTestWorker(lab.target, 'pool', {
    taskQueue: poolTaskQueue(lab.pool),
    deps,
    maxConcurrentActivities: poolSlots,
  });
  return lab;
}

/** TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START is 2 in the Temporal API. */
async function activityTypes(handle: WorkflowHandle): Promise<{ scheduled: string[]; scheduleToStart: string[] }> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name ?? '']),
  );
  return {
    scheduled: [...typeOf.values()],
    scheduleToStart: events
      .filter((e) => e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType === 2)
      .map((e) => typeOf.get(String(e.activityTaskTimedOutEventAttributes!.scheduledEventId)) ?? '?'),
  };
}

describe('pool limits: builds beyond the limit are queued, not failed', () => {
  let lab: BuildLab;

  before(async () => {
    lab = await labWithWorkers(200);
    // One export at a time on this pool, and each export takes at least 3 s: the builds overlap.
    const file = lab.workerEnv.XENIMAGE_POOLS_FILE!;
    const entry = (await readPoolsFile(file)).pools[lab.pool]!;
    await writePoolEntry(file, lab.pool, { ...entry, limits: { exports: 1, imports: 2, starts: 3 } });
    lab.xapi.faults.inject({ kind: 'slow', method: 'export_raw_vdi', atByte: 0, delayMs: 3000, every: true });
    // Halted: several builds may export the same disk at once (none shuts it down or starts it).
    const conn = await labConnection(lab);
    const vm = conn.all('VM').find((v) => v.name_label === 'debian-pv' && !v.is_a_template)!;
    if ((await conn.call('VM.get_power_state', vm.$ref)) !== 'Halted') await conn.call('VM.clean_shutdown', vm.$ref);
  });

  test('three builds with an exports limit of 1 all finish; the ones beyond the limit show queued for exports', async () => {
    const handles = await Promise.all(
      [1, 2, 3].map((n) =>
        lab.client.workflow.start('vmImage', {
          taskQueue: lab.taskQueue,
          workflowId: `limits-${n}-${randomUUID()}`,
          args: [vmInput(lab, 'debian-pv', { image: { name: `limits-${n}` } })],
        }),
      ),
    );
    // Live: some build's progress says it waits for an export slot.
    const queued = await Promise.any(handles.map((h) => waitForProgress(h, (p) => p.queuedFor === 'exports', 120_000)));
    assert.equal(queued.step, 'export and upload');
    const results = (await Promise.all(handles.map((h) => h.result()))) as Array<{ imageId: string }>;
    assert.equal(new Set(results.map((r) => r.imageId)).size, 3, 'three images');
    const progress = await Promise.all(handles.map((h) => h.query<BuildProgress>('progress')));
    const waited = progress.filter((p) =>
      p.steps.some((s) => s.step === 'export and upload' && s.queuedFor === 'exports'),
    );
    assert.ok(waited.length >= 2, `at least two builds waited for the export slot (${waited.length})`);
    for (const p of progress) assert.equal(p.state, 'succeeded');
  });
});

describe('busy pool workers or no pool workers', () => {
  let lab: BuildLab;

  before(async () => {
    lab = await labWithWorkers(1);
  });

  test('a pool whose only slot is busy past poolWorkerTimeout is not UnknownPool: the build waits and succeeds', async () => {
    // Build A holds the pool's one slot in its clean shutdown for 8 s.
    lab.xapi.faults.inject({ kind: 'slow', method: 'VM.clean_shutdown', delayMs: 8000 });
    const a = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId: `busy-a-${randomUUID()}`,
      args: [vmInput(lab, 'debian-pv')],
    });
    await waitForProgress(a, (p) => p.step === 'shut down', 60_000);
    const b = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId: `busy-b-${randomUUID()}`,
      args: [
        vmInput(lab, 'legacy-hvm', {
          shutdown: { timeout: '1m', allowHard: true },
          tuning: { ...TUNING, poolWorkerTimeout: '2s' },
        }),
      ],
    });
    await Promise.all([a.result(), b.result()]);
    const history = await activityTypes(b);
    assert.deepEqual(history.scheduleToStart, ['findVm'], "B's first pool call waited past poolWorkerTimeout");
    assert.ok(history.scheduled.includes('queuePollers'), "B asked Temporal for the pool queue's pollers");
  });

  test('a pool no worker polls is UnknownPool, after asking Temporal', async () => {
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId: `unknown-pool-${randomUUID()}`,
      args: [
        vmInput(lab, 'debian-pv', {
          pool: `nobody-${randomUUID().slice(0, 8)}`,
          tuning: { ...TUNING, poolWorkerTimeout: '2s' },
        }),
      ],
    });
    const failure = await handle.result().then(
      () => assert.fail('the build succeeded'),
      (err: unknown) => rootFailure(err),
    );
    assert.equal(failure?.type, 'UnknownPool');
    assert.ok((await activityTypes(handle)).scheduled.includes('queuePollers'));
  });
});
