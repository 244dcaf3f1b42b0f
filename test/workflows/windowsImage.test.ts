// The Windows image workflow end to end — real Temporal dev server, the XenServer lab with its simulated
// Windows, real Glance — run by a `xenimage worker` process whose logs are read afterwards.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { parse as parseYaml } from 'yaml';
import type { BuildProgress } from '../../src/contracts/messages.js';
import { buildTag, type OpenStackCloud } from '../../src/openstack/index.js';
import { SecretResolver } from '../../src/secrets.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { cleanupByTag } from '../../src/xapi/snapshots.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import {
  assertNothingLeft,
  buildVm,
  identityOf,
  labConnection,
  rootFailure,
  taggedInPool,
  windowsInput,
} from '../helpers/builds.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/workerProcess.js';

describe('windowsImage workflow', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;
  let worker: WorkerProcess;

  before(async () => {
    lab = await startBuildLab({ workers: 'none' });
    worker = startWorkerProcess(lab.workerEnv, [lab.pool]);
    await worker.ready;
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
  });

  test('happy path: device_id set by the tools is removed with a restart; an active, verified Windows image; no secret in history or logs', async () => {
    const workflowId = `windows-${randomUUID().slice(0, 8)}`;
    const input = await windowsInput(lab, 'win2022-golden', {
      image: { name: 'win2022-golden', properties: { os_distro: 'windows', os_version: '2022' } },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input],
    });

    // XenServer's tools installers (and Windows templates) leave platform:device_id=0002 on the VM.
    const build = identityOf(handle);
    const vm = await buildVm(conn, build);
    await conn.call('VM.remove_from_platform', vm, 'device_id');
    await conn.call('VM.add_to_platform', vm, 'device_id', '0002');
    // The build's built-in Administrator password, derived as any worker holding the build key derives it.
    const labSecrets = new SecretResolver({ dir: lab.secretsDir, env: {} });
    const generated = await labSecrets.derive({ generated: 'windows-admin', build });
    const buildKey = (await readFile(path.join(lab.secretsDir, 'xenimage-build-key'), 'utf8')).trim();

    const result = (await handle.result()) as {
      imageId: string;
      checksum: string;
      verified: { imageId: string; md5: string; checks: string[] };
      deviceId: { wasSet: boolean; value?: string };
      sysprepAttempts: Array<{ outcome: string }>;
      cleanedUp: { vms: number };
      warnings: string[];
      guestLogs: Array<{ moment: string; attempt: number; files: Array<{ path: string; lines: string[] }> }>;
    };
    assert.deepEqual([result.verified.imageId, result.verified.md5], [result.imageId, result.checksum]);
    assert.deepEqual(result.deviceId, { wasSet: true, value: '0002' });
    assert.deepEqual(
      result.sysprepAttempts.map((a) => a.outcome),
      ['succeeded'],
    );
    assert.equal(result.cleanedUp.vms, 1);
    assert.deepEqual(result.warnings, []);
    // The guest's logs, collected once before sysprep's shutdown, in the result.
    assert.deepEqual(
      result.guestLogs.map((l) => [l.moment, l.attempt]),
      [['before shutdown', 1]],
    );
    const setupact = result.guestLogs[0]!.files.find((f) => f.path.endsWith('Sysprep\\Panther\\setupact.log'));
    assert.ok(
      setupact?.lines.some((l) => /Sysprep_succeeded\.tag|tag file/i.test(l)),
      'Panther says sysprep succeeded',
    );

    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.status, 'active');
    assert.equal(image.container_format, 'ovf');
    assert.equal(image.disk_format, 'vhd');
    assert.equal(image.vm_mode, 'hvm');
    assert.equal(image.os_type, 'windows');
    assert.equal(image.os_version, '2022');
    assert.ok(image.tags.includes(buildTag(build)));

    const progress = await handle.query<BuildProgress>('progress');
    assert.equal(progress.state, 'succeeded');
    assert.equal(progress.build, build);
    const steps = progress.steps.map((s) => `${s.step}:${s.status}`);
    for (const step of [
      'answer media',
      'create VM',
      'install Windows',
      'PV tools',
      'device_id',
      'restart for device_id',
      're-check PV drivers',
      'administrator',
      'cloudbase-init',
      'eject answer ISO',
      'remove build files',
      'snapshot',
      'sysprep',
      'collect logs',
      'seal and shut down',
      'wait for halt',
      'export and upload',
      'verify',
      'cleanup',
    ]) {
      assert.ok(steps.includes(`${step}:done`), `step ${step} done (steps: ${steps.join(', ')})`);
    }
    assert.ok(
      progress.steps.every((s) => s.startedAt && s.endedAt && s.startedAt <= s.endedAt),
      'every step has its start and end times',
    );
    const described = await handle.describe();
    assert.equal(described.searchAttributes.XenimageKind?.[0], 'windows');
    assert.equal(described.searchAttributes.XenimagePool?.[0], lab.pool);
    assert.equal(described.searchAttributes.XenimageImage?.[0], 'win2022-golden');

    // Nothing of the build remains but its image; no secret was written anywhere.
    assert.deepEqual(await taggedInPool(conn, build), []);
    assert.deepEqual(await lab.unexpectedSecrets(), []);

    // No secret value in the whole history (inputs, results, failures, heartbeats, guest logs) nor in the logs.
    const history = historyToJSON(await handle.fetchHistory());
    const clouds = parseYaml(await readFile(lab.openstack.cloudsFile, 'utf8')) as {
      clouds: Record<string, { auth: { password: string } }>;
    };
    const secrets: Record<string, string> = {
      'extra administrator password': 'Xen!mage-Adm1n-Pw-7',
      'generated built-in Administrator password': generated,
      'build key': buildKey,
      'XAPI password': lab.xapi.password,
      'Keystone build user password': clouds.clouds[lab.openstack.cloud]!.auth.password,
    };
    const logs = worker.output();
    assert.ok(logs.includes('"step started"') || logs.includes('Activity'), 'the worker logged the build');
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value.length >= 8);
      assert.ok(!history.includes(value), `${what} is in the workflow history`);
      assert.ok(!logs.includes(value), `${what} is in the worker's logs`);
      assert.ok(!JSON.stringify(progress).includes(value), `${what} is in the progress`);
    }
  });

  test('keepOnFailure keeps the VM and disks, never the secrets; a new run under the same workflow ID leaves them alone', async () => {
    const workflowId = `windows-keep-${randomUUID().slice(0, 8)}`;
    const failFast = { install: '2s', sysprep: '30m', halt: '1h', shutdown: '10m' };
    const keepInput = await windowsInput(lab, 'win-keep', { keepOnFailure: true, timeouts: failFast });
    const first = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [keepInput],
    });
    const kept = identityOf(first);
    await assert.rejects(first.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.match(failure?.message ?? '', /did not .*(within|in time)|timed out|timeout/i);
      assert.match(failure?.message ?? '', /kept for debugging: .*VM "xenimage win-keep"/);
      assert.doesNotMatch(failure!.message, /xenimage-answer-/, 'the answer ISO is not among what was kept');
      return true;
    });
    const leftovers = await taggedInPool(conn, kept);
    assert.ok(leftovers.includes('VM xenimage win-keep'), 'the build VM is kept');
    assert.ok(
      leftovers.some((l) => l.startsWith('VDI ')),
      'its disk is kept',
    );
    assert.ok(
      !leftovers.some((l) => l.includes('xenimage-answer-')),
      'the answer ISO (password, listener key) is gone',
    );
    assert.deepEqual(await lab.unexpectedSecrets(), [], 'no secret file was left anywhere');

    // The same workflow ID again: a new run with an identity of its own fails after creating its VM and cleans up
    // only what it made.
    const second = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [{ ...keepInput, keepOnFailure: false }],
    });
    assert.notEqual(identityOf(second), kept);
    await assert.rejects(second.result(), (err: unknown) =>
      /timed out|timeout|within/i.test(rootFailure(err)?.message ?? ''),
    );
    assert.deepEqual(await taggedInPool(conn, identityOf(second)), [], 'the second run removed its own work');
    assert.deepEqual(await taggedInPool(conn, kept), leftovers, "the first run's leftovers are untouched");

    // Then the operator's cleanup of the kept build.
    await cleanupByTag(conn, kept);
    await assertNothingLeft(lab, conn, cloud, kept);
  });
});
