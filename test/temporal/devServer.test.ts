// The platform round trip on the real Temporal dev server: bundle, worker, client, search attributes,
// Web UI, and a restart that keeps the workflows.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { hostActivities } from '../../activities/host.js';
import { ensureSearchAttributes } from '../../src/temporal/searchAttributes.js';
import { startWorker } from '../../src/temporal/worker.js';
import { startPrivateDevServer, testLogger, uniqueTaskQueue } from '../helpers/temporal.js';
import { waitFor } from '../helpers/waitFor.js';

test('dev server: workflow round trip, search attributes, UI, restart keeps history', async () => {
  let server = await startPrivateDevServer();
  const stateDir = server.stateDir;
  try {
    const ui = await fetch(server.uiUrl);
    assert.equal(ui.status, 200, 'the Web UI answers');

    const taskQueue = uniqueTaskQueue('self-check');
    const worker = await startWorker({
      target: server,
      taskQueue,
      activities: hostActivities(),
      logger: testLogger(),
      shutdownGraceTime: '1s',
    });
    const client = new Client({ connection: server.connection, namespace: server.namespace });
    const workflowId = `self-check-${randomUUID()}`;
    try {
      const report = await client.workflow.execute('selfCheck', { taskQueue, workflowId, args: [] });
      assert.equal(report.node, process.version);
      assert.ok(report.tools.qemuImg, 'qemu-img found on the worker host');
    } finally {
      await worker.shutdown();
    }

    const listed = await waitFor(
      'the workflow in a list query',
      async () => {
        for await (const wf of client.workflow.list({
          query: `XenimageKind = "self-check" AND WorkflowId = "${workflowId}"`,
        })) {
          return wf;
        }
        return undefined;
      },
      15_000,
      200,
    );
    assert.equal(listed.workflowId, workflowId);
    assert.equal(listed.searchAttributes.XenimageStep?.[0], 'done');

    await server.stop();
    server = await startPrivateDevServer(stateDir);
    const restartedClient = new Client({ connection: server.connection, namespace: server.namespace });
    const described = await restartedClient.workflow.getHandle(workflowId).describe();
    assert.equal(described.status.name, 'COMPLETED', 'the workflow survived the restart');
  } finally {
    await server.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('search attributes are added through the operator service where they are missing', async () => {
  const server = await startPrivateDevServer();
  try {
    const namespace = `ops-${randomUUID().slice(0, 8)}`;
    await server.connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    const added = await ensureSearchAttributes(server.connection, namespace);
    assert.deepEqual(added.sort(), ['XenimageImage', 'XenimageKind', 'XenimagePool', 'XenimageStep']);
    assert.deepEqual(await ensureSearchAttributes(server.connection, namespace), [], 'idempotent');
  } finally {
    await server.stop();
    await rm(server.stateDir, { recursive: true, force: true });
  }
});
