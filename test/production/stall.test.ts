// Liveness from progress (issue 9.2): a transfer that stops moving bytes fails TransferStalled within its stall
// timeout (plus the retry's backoff), not at the transfer timeout, and the build's retry then succeeds. Two lab
// faults: an XAPI export that stops mid-stream (the lab's `slow` export fault with a long hold), and a Glance
// upload held by a proxy in front of the lab's Glance (src/lab/openstack/holdingProxy.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { VmImageInput } from '../../src/contracts/vmImageInput.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import { startHoldingProxy, type HoldingProxy } from '../../src/lab/openstack/holdingProxy.js';
import { buildTag, connectCloud } from '../../src/openstack/index.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { identityOf } from '../helpers/builds.js';
import { testDeps } from '../helpers/deps.js';
import { onTeardown } from '../helpers/teardown.js';
import { startTestWorker } from '../helpers/worker.js';

const STALL_S = 5;
/** The bound: the stall is reported within stallTimeout + 30 s. */
const BOUND_MS = (STALL_S + 30) * 1000;
const HELD_CLOUD = 'xenimage-held';

interface RetriedAttempt {
  activity: string;
  attempt: number;
  lastFailureType: string | undefined;
  /** From the activity's scheduling to the start of the attempt that succeeded. */
  msToRetry: number;
}

/** The activities that needed more than one attempt, with the failure of the attempt before. */
async function retried(handle: WorkflowHandle): Promise<RetriedAttempt[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map(
    events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e] as const),
  );
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  return events
    .filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
    .map((e) => {
      const started = e.activityTaskStartedEventAttributes!;
      const sched = scheduled.get(String(started.scheduledEventId));
      return {
        activity: sched?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
        attempt: started.attempt ?? 0,
        lastFailureType: started.lastFailure?.applicationFailureInfo?.type ?? undefined,
        msToRetry: ms(e.eventTime) - ms(sched?.eventTime),
      };
    });
}

describe('stalled transfers', () => {
  let lab: BuildLab;
  let proxy: HoldingProxy;

  before(async () => {
    lab = await startBuildLab({ scenario: 'existing-vms', workers: 'none' });
    // A cloud like the lab's whose Glance is reached through the holding proxy.
    const cloud = lab.openstack.open();
    proxy = await startHoldingProxy(await cloud.glance.endpoint());
    onTeardown(() => proxy.close());
    const yaml = parseYaml(await readFile(lab.openstack.cloudsFile, 'utf8')) as { clouds: Record<string, object> };
    const cloudsFile = path.join(lab.dir, 'clouds.yaml');
    const labCloud = yaml.clouds[lab.openstack.cloud]!;
    yaml.clouds[HELD_CLOUD] = { ...labCloud, image_endpoint_override: proxy.url };
    await writeFile(cloudsFile, stringifyYaml(yaml), { mode: 0o600 });
    const deps = testDeps({
      stateDir: lab.dir,
      secretsDir: lab.secretsDir,
      poolsFile: lab.workerEnv.XENIMAGE_POOLS_FILE!,
      cloudsFile,
    });
    await startTestWorker(lab.target, 'build', { taskQueue: lab.taskQueue, deps });
    await startTestWorker(lab.target, 'pool', { taskQueue: poolTaskQueue(lab.pool), deps });
  });

  const input = (name: string, cloud: string): VmImageInput => ({
    pool: lab.pool,
    vm: { name: 'debian-pv' },
    image: { name },
    osType: 'linux',
    cloud,
    tuning: {
      heartbeatTimeout: '10s',
      stallTimeout: `${STALL_S}s`,
      retryInitialInterval: '1s',
      maxRetryInterval: '5s',
      transferTimeout: '30m',
    },
  });

  async function imagesOf(build: string): Promise<Array<{ id: string; status: string }>> {
    const cloud = connectCloud(lab.openstack.cloud, { file: lab.openstack.cloudsFile, env: {} });
    try {
      return (await cloud.glance.listImages({ tag: buildTag(build) })).map((i) => ({ id: i.id, status: i.status }));
    } finally {
      await cloud.close();
    }
  }

  test('an export that stops mid-stream fails TransferStalled within stallTimeout + 30 s, and the build succeeds', async () => {
    // The export sends 1 MiB, then nothing for 10 minutes (the transfer timeout is 30 minutes).
    lab.xapi.faults.inject({ kind: 'slow', method: 'export_raw_vdi', atByte: 1024 * 1024, delayMs: 600_000 });
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId: `stall-export-${randomUUID()}`,
      args: [input('stalled-export', lab.openstack.cloud)],
    });
    const result = (await handle.result()) as { imageId: string };
    assert.ok(
      lab.xapi.faults.fired.some((f) => f.kind === 'slow' && f.method === 'export_raw_vdi'),
      'the export stalled',
    );
    const exportRetries = (await retried(handle)).filter((r) => r.activity === 'exportToGlance');
    assert.equal(exportRetries.length, 1, 'the export and upload ran a second attempt');
    assert.equal(exportRetries[0]!.lastFailureType, 'TransferStalled');
    assert.ok(
      exportRetries[0]!.msToRetry < BOUND_MS,
      `stalled and retried ${exportRetries[0]!.msToRetry} ms after it was scheduled (bound ${BOUND_MS} ms)`,
    );
    const images = await imagesOf(identityOf(handle));
    assert.deepEqual(images, [{ id: result.imageId, status: 'active' }], 'one image of the build, active');
  });

  test('a Glance upload that is held fails TransferStalled within stallTimeout + 30 s, and the build succeeds', async () => {
    proxy.hold({ afterBytes: 512 * 1024 });
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId: `stall-upload-${randomUUID()}`,
      args: [input('held-upload', HELD_CLOUD)],
    });
    const result = (await handle.result()) as { imageId: string };
    assert.equal(proxy.held.length, 1, 'the proxy held one upload');
    const exportRetries = (await retried(handle)).filter((r) => r.activity === 'exportToGlance');
    assert.equal(exportRetries.length, 1, 'the export and upload ran a second attempt');
    assert.equal(exportRetries[0]!.lastFailureType, 'TransferStalled');
    assert.ok(
      exportRetries[0]!.msToRetry < BOUND_MS,
      `stalled and retried ${exportRetries[0]!.msToRetry} ms after it was scheduled (bound ${BOUND_MS} ms)`,
    );
    const images = await imagesOf(identityOf(handle));
    assert.deepEqual(images, [{ id: result.imageId, status: 'active' }], 'one image of the build, active');
  });
});
