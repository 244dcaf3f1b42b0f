// The Windows image workflow end to end: real Temporal dev server, the XenServer lab with its simulated
// Windows, real Glance.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import { buildTag } from '../../src/openstack/index.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';

describe('windowsImage workflow', () => {
  let lab: BuildLab;
  let input: (name: string) => WindowsImageInput;

  before(async () => {
    lab = await startBuildLab();
    const adminPassword = await lab.putSecret('builder-admin', 'Xen!mage-Adm1n-Pw');
    input = (name) => ({
      pool: lab.pool,
      installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
      windows: { imageName: 'Windows Server 2022 Standard Evaluation' },
      administrator: { name: 'builder', password: adminPassword },
      pvTools: lab.installers.pvTools,
      cloudbaseInit: lab.installers.cloudbaseInit,
      image: { name, properties: { os_distro: 'windows', os_version: '2022' } },
      cloud: lab.openstack.cloud,
      tuning: { heartbeatTimeout: '30s', retryInitialInterval: '1s', maxRetryInterval: '5s', transferTimeout: '30m' },
    });
  });

  test('happy path: an active Windows image with the right properties, verified; nothing tagged remains', async () => {
    const workflowId = `windows-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('windowsImage', { taskQueue: lab.taskQueue, workflowId, args: [input('win2022-golden')] });
    const result = (await handle.result()) as { imageId: string; verified: boolean; sysprepAttempts: unknown[]; deviceId: { wasSet: boolean } };
    assert.equal(result.verified, true);
    const cloud = lab.openstack.open();
    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.status, 'active');
    assert.equal(image.container_format, 'ovf');
    assert.equal(image.disk_format, 'vhd');
    assert.equal(image.vm_mode, 'hvm');
    assert.equal(image.os_type, 'windows');
    assert.ok(image.tags.includes(buildTag(workflowId)));
    const progress = await handle.query<BuildProgress>('progress');
    assert.equal(progress.state, 'succeeded');
    assert.equal(progress.sysprepAttempts?.length, 1);
    const tagged = lab.xapi.describe().vms.filter((vm) => vm.name.includes('win2022-golden'));
    assert.deepEqual(tagged, [], 'the build VM is gone');
  });
});
