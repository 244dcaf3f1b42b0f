// Nothing is lost when a worker dies or the Temporal server restarts mid-build.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { buildTag } from '../../src/openstack/index.js';
import { startBuildLab } from '../helpers/buildLab.js';
import { labConnection, retriedActivities, taggedInPool, waitForProgress, windowsInput } from '../helpers/builds.js';
import { onTeardown } from '../helpers/teardown.js';
import { startPrivateDevServer } from '../helpers/temporal.js';
import { startWorkerProcess } from '../helpers/workerProcess.js';

describe('windowsImage resilience', () => {
  test('the worker is killed (SIGKILL) during the export: a new worker finishes the build — one image, no leftovers', async () => {
    const lab = await startBuildLab({ workers: 'none' });
    const conn = await labConnection(lab);
    const cloud = lab.openstack.open();
    const first = startWorkerProcess(lab.workerEnv, [lab.pool]);
    await first.ready;
    // The export stalls (XAPI answers slowly) long enough to kill the worker in the middle of the transfer.
    lab.xapi.faults.inject({ kind: 'slow', method: 'export_raw_vdi', delayMs: 30_000, times: 1 });
    const workflowId = `resilience-kill-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [await windowsInput(lab, 'win-kill')],
    });
    await waitForProgress(handle, (p) => p.step === 'export and upload');
    // The upload has begun: the build's image exists in Glance, queued.
    for (let i = 0; i < 100 && (await cloud.glance.listImages({ tag: buildTag(workflowId) })).length === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startWorkerProcess(lab.workerEnv, [lab.pool]);
    await second.ready;
    const result = (await handle.result()) as { imageId: string; verified: boolean };
    assert.equal(result.verified, true);
    const images = await cloud.glance.listImages({ tag: buildTag(workflowId) });
    assert.deepEqual(
      images.map((i) => [i.id, i.status]),
      [[result.imageId, 'active']],
      'exactly one image, the verified one',
    );
    assert.deepEqual(await taggedInPool(conn, workflowId), [], 'no VM, snapshot or disk left in the pool');
    assert.ok(
      (await retriedActivities(handle)).includes('exportToGlance'),
      'the export ran again after the worker died',
    );
  });

  test('the Temporal server restarts while Windows installs: the build finishes', async () => {
    let server = await startPrivateDevServer();
    const stateDir = server.stateDir;
    const port = Number(server.address.split(':')[1]);
    onTeardown(async () => {
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    });
    // A slower lab, so the install lasts long enough for a restart.
    const lab = await startBuildLab({
      workers: 'none',
      temporal: { address: server.address, namespace: 'default' },
      speed: 0.04,
    });
    const worker = startWorkerProcess(lab.workerEnv, [lab.pool]);
    await worker.ready;
    const workflowId = `resilience-restart-${randomUUID().slice(0, 8)}`;
    await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [await windowsInput(lab, 'win-restart')],
    });
    await waitForProgress(lab.client.workflow.getHandle(workflowId), (p) => p.step === 'install Windows');

    await server.stop();
    await new Promise((r) => setTimeout(r, 2000));
    server = await startPrivateDevServer(stateDir, port);

    const connection = await Connection.connect({ address: server.address });
    onTeardown(() => connection.close());
    const client = new Client({ connection });
    const result = (await client.workflow.getHandle(workflowId).result()) as { imageId: string; verified: boolean };
    assert.equal(result.verified, true);
    assert.equal((await lab.openstack.open().glance.getImage(result.imageId)).status, 'active');
    assert.equal(worker.child.exitCode, null, 'the same worker carried on');
  });
});
