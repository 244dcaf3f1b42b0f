// The Windows image workflow end to end — real Temporal dev server, the XenServer lab with its simulated
// Windows, real Glance — run by a `xenimage worker` process whose logs are read afterwards.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { parse as parseYaml } from 'yaml';
import type { BuildProgress } from '../../src/contracts/messages.js';
import { buildTag, type OpenStackCloud } from '../../src/openstack/index.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { assertNothingLeft, buildVm, labConnection, rootFailure, windowsInput } from '../helpers/builds.js';
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
    const vm = await buildVm(conn, workflowId);
    await conn.call('VM.remove_from_platform', vm, 'device_id');
    await conn.call('VM.add_to_platform', vm, 'device_id', '0002');
    // The build's generated built-in Administrator password, read while it exists, to look for it later.
    const generatedFile = path.join(lab.dir, 'secrets', `${workflowId}.windows-admin`);
    const generated = (await readFile(generatedFile, 'utf8')).trim();

    const result = (await handle.result()) as {
      imageId: string;
      verified: boolean;
      deviceId: { wasSet: boolean; value?: string };
      sysprepAttempts: Array<{ outcome: string }>;
      cleanedUp: { vms: number };
    };
    assert.equal(result.verified, true);
    assert.deepEqual(result.deviceId, { wasSet: true, value: '0002' });
    assert.deepEqual(
      result.sysprepAttempts.map((a) => a.outcome),
      ['succeeded'],
    );
    assert.equal(result.cleanedUp.vms, 1);

    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.status, 'active');
    assert.equal(image.container_format, 'ovf');
    assert.equal(image.disk_format, 'vhd');
    assert.equal(image.vm_mode, 'hvm');
    assert.equal(image.os_type, 'windows');
    assert.equal(image.os_version, '2022');
    assert.ok(image.tags.includes(buildTag(workflowId)));

    const progress = await handle.query<BuildProgress>('progress');
    assert.equal(progress.state, 'succeeded');
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
      'snapshot',
      'sysprep',
      'wait for halt',
      'export and upload',
      'verify',
      'cleanup',
    ]) {
      assert.ok(steps.includes(`${step}:done`), `step ${step} done (steps: ${steps.join(', ')})`);
    }
    const described = await handle.describe();
    assert.equal(described.searchAttributes.XenimageKind?.[0], 'windows');
    assert.equal(described.searchAttributes.XenimagePool?.[0], lab.pool);
    assert.equal(described.searchAttributes.XenimageImage?.[0], 'win2022-golden');

    // Nothing of the build remains but its image.
    const { vms, vdis } = {
      vms: conn.all('VM').filter((v) => v.other_config['xenimage-build'] === workflowId),
      vdis: conn.all('VDI').filter((v) => v.other_config['xenimage-build'] === workflowId),
    };
    await conn.barrier();
    assert.deepEqual(
      [...vms, ...vdis].map((r) => r.name_label),
      [],
    );
    assert.deepEqual(
      (await readdir(path.join(lab.dir, 'secrets'))).filter((s) => s.startsWith(workflowId)),
      [],
    );

    // No secret value in the whole history (inputs, results, failures, heartbeats) nor in the worker's logs.
    const history = historyToJSON(await handle.fetchHistory());
    const clouds = parseYaml(await readFile(lab.openstack.cloudsFile, 'utf8')) as {
      clouds: Record<string, { auth: { password: string } }>;
    };
    const secrets: Record<string, string> = {
      'extra administrator password': 'Xen!mage-Adm1n-Pw-7',
      'generated built-in Administrator password': generated,
      'XAPI password': lab.xapi.password,
      'Keystone build user password': clouds.clouds[lab.openstack.cloud]!.auth.password,
    };
    const logs = worker.output();
    assert.ok(logs.includes('"step started"') || logs.includes('Activity'), 'the worker logged the build');
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value.length >= 8);
      assert.ok(!history.includes(value), `${what} is in the workflow history`);
      assert.ok(!logs.includes(value), `${what} is in the worker's logs`);
    }
  });

  test('a failed build with keepOnFailure keeps and lists what it made', async () => {
    const workflowId = `windows-keep-${randomUUID().slice(0, 8)}`;
    const input = await windowsInput(lab, 'win-keep', {
      keepOnFailure: true,
      timeouts: { install: '2s', sysprep: '30m', halt: '1h', shutdown: '10m' },
    });
    await assert.rejects(
      lab.client.workflow.execute('windowsImage', { taskQueue: lab.taskQueue, workflowId, args: [input] }),
      (err: unknown) => {
        const failure = rootFailure(err);
        assert.match(failure?.message ?? '', /did not .*(within|in time)|timed out|timeout/i);
        assert.match(failure?.message ?? '', /kept for debugging: .*VM "xenimage win-keep"/);
        assert.match(failure!.message, /VDI "xenimage-answer-/);
        return true;
      },
    );
    await conn.barrier();
    assert.ok(
      conn.all('VM').some((v) => v.other_config['xenimage-build'] === workflowId && !v.is_a_snapshot),
      'the build VM is kept',
    );
    // Then the operator's cleanup: the same activity the saga runs.
    await conn.call('VM.hard_shutdown', await buildVm(conn, workflowId)).catch(() => undefined);
    const { cleanupByTag } = await import('../../src/xapi/snapshots.js');
    await cleanupByTag(conn, workflowId);
    await assertNothingLeft({ ...lab, dir: '/nonexistent' }, conn, cloud, workflowId);
  });
});
