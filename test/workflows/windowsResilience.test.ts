// Nothing is lost when a worker dies or the Temporal server restarts mid-build.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { isListening } from '../../src/net/freePort.js';
import { buildTag } from '../../src/openstack/index.js';
import { startBuildLab } from '../helpers/buildLab.js';
import {
  activityWorkers,
  identityOf,
  labConnection,
  retriedActivities,
  taggedInPool,
  waitForProgress,
  windowsInput,
} from '../helpers/builds.js';
import { onTeardown } from '../helpers/teardown.js';
import { startPrivateDevServer } from '../helpers/temporal.js';
import { waitFor } from '../helpers/waitFor.js';
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
    const build = identityOf(handle);
    await waitForProgress(handle, (p) => p.step === 'export and upload');
    // The upload has begun: the build's image exists in Glance, queued.
    await waitFor(
      "the build's image in Glance",
      async () => (await cloud.glance.listImages({ tag: buildTag(build) })).length > 0,
      30_000,
      100,
    );
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startWorkerProcess(lab.workerEnv, [lab.pool]);
    await second.ready;
    const result = (await handle.result()) as { imageId: string; verified: { imageId: string } };
    assert.equal(result.verified.imageId, result.imageId);
    const images = await cloud.glance.listImages({ tag: buildTag(build) });
    assert.deepEqual(
      images.map((i) => [i.id, i.status]),
      [[result.imageId, 'active']],
      'exactly one image, the verified one',
    );
    assert.deepEqual(await taggedInPool(conn, build), [], 'no VM, snapshot or disk left in the pool');
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
    // Back on the same port (the worker reconnects to it) once the old server has let it go.
    await waitFor('the port to be free', async () => !(await isListening('127.0.0.1', port)), 30_000, 100);
    server = await startPrivateDevServer(stateDir, port);

    const connection = await Connection.connect({ address: server.address });
    onTeardown(() => connection.close());
    const client = new Client({ connection });
    const result = (await client.workflow.getHandle(workflowId).result()) as {
      imageId: string;
      verified: { imageId: string };
    };
    assert.equal(result.verified.imageId, result.imageId);
    assert.equal((await lab.openstack.open().glance.getImage(result.imageId)).status, 'active');
    assert.equal(worker.child.exitCode, null, 'the same worker carried on');
  });

  test('another machine finishes the build: its own state folder and a copy of the configured secrets only', async () => {
    const lab = await startBuildLab({ workers: 'none', speed: 0.04 });
    const conn = await labConnection(lab);
    const cloud = lab.openstack.open();
    const first = startWorkerProcess(lab.workerEnv, [lab.pool]);
    await first.ready;
    const workflowId = `two-machines-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [await windowsInput(lab, 'win-two-machines')],
    });
    // The first machine made the answer media (with the generated password) and dies while Windows installs.
    await waitForProgress(handle, (p) => p.step === 'install Windows');
    first.child.kill('SIGKILL');
    await first.exited;

    // The other machine: a state folder of its own, a copy of the pools file and of the configured secrets.
    const other = await mkdtemp(path.join(os.tmpdir(), 'xenimage-other-machine-'));
    onTeardown(() => rm(other, { recursive: true, force: true }));
    await mkdir(path.join(other, 'secrets'), { mode: 0o700 });
    const configured = (await readdir(lab.secretsDir)).sort();
    for (const name of configured) await copyFile(path.join(lab.secretsDir, name), path.join(other, 'secrets', name));
    await copyFile(path.join(lab.dir, 'pools.yaml'), path.join(other, 'pools.yaml'));
    // Nothing of the first machine's secrets folder can help from here on.
    await rm(lab.secretsDir, { recursive: true, force: true });
    const { XENIMAGE_SECRETS_DIR: _firstMachines, ...env } = lab.workerEnv;
    const second = startWorkerProcess(
      { ...env, XENIMAGE_STATE_DIR: other, XENIMAGE_POOLS_FILE: path.join(other, 'pools.yaml') },
      [lab.pool],
    );
    await second.ready;

    const result = (await handle.result()) as { imageId: string; verified: { imageId: string } };
    assert.equal(result.verified.imageId, result.imageId);
    assert.equal((await cloud.glance.getImage(result.imageId)).status, 'active');
    const ranOn = await activityWorkers(handle);
    const on = (child: { pid?: number }, type: string) =>
      (ranOn.get(type) ?? []).some((identity) => identity.startsWith(`${child.pid}@`));
    assert.ok(on(first.child, 'prepareAnswerMedia'), 'the first machine made the answer media');
    for (const type of ['waitForWinrm', 'addAdministrator', 'installCloudbaseInit', 'runSysprep', 'exportToGlance'])
      assert.ok(on(second.child, type), `${type} ran on the other machine`);
    assert.deepEqual(
      (await readdir(path.join(other, 'secrets'))).sort(),
      configured,
      'the other machine wrote no secret',
    );
    assert.deepEqual(await taggedInPool(conn, identityOf(handle)), [], 'nothing of the build is left in the pool');
  });
});
