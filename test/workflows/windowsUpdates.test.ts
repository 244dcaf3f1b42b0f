// Windows Update in a whole build on the lab (docs/decisions/windows-0009-windows-update.md): rounds run until none
// is left, each a step of the progress; the update that fails once in the first round installs in the second; the
// excluded KB is never installed and the superseded one never offered; the result lists the KBs per round and the
// component clean-up ran with /ResetBase.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { windowsInput } from '../helpers/builds.js';

interface Result {
  imageId: string;
  warnings: string[];
  updates?: {
    rounds: Array<{
      round: number;
      installed: string[];
      failed: Array<{ kb: string; hresult: string }>;
      rebooted: boolean;
    }>;
    installed: string[];
    stoppedBy: string;
    componentCleanup?: { resetBase: boolean; exitCode: number };
  };
}

describe('windowsImage with Windows Update', () => {
  let lab: BuildLab;
  let cloud: OpenStackCloud;

  before(async () => {
    lab = await startBuildLab();
    cloud = lab.openstack.open();
  });

  test('rounds until none is left: the failing update is retried in the next round, the excluded KB never installs, KBs per round in the result', async () => {
    const input = await windowsInput(lab, 'win-updates', {
      updates: { install: true, maxRounds: 5, exclude: ['KB2267602'], resetBase: true },
      timeouts: { install: '5m', sysprep: '5m', halt: '5m', shutdown: '2m', updates: '10m' },
      sysprep: { onUnknownFailure: 'fail' },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId: `updates-${randomUUID().slice(0, 8)}`,
      args: [input],
    });
    const result = (await handle.result()) as Result;
    assert.ok(result.updates, 'the result has the updates');
    assert.deepEqual(
      result.updates.rounds.map((r) => [r.round, r.installed, r.failed.map((f) => `${f.kb} ${f.hresult}`), r.rebooted]),
      [
        [1, ['KB5044414', 'KB5044281'], ['KB5044035 0x80070643'], true],
        [2, ['KB5044035', 'KB5046540'], [], true],
        [3, [], [], false],
      ],
    );
    assert.deepEqual(result.updates.installed, ['KB5044414', 'KB5044281', 'KB5044035', 'KB5046540']);
    assert.ok(!result.updates.installed.includes('KB2267602'), 'the excluded update is not installed');
    assert.ok(!result.updates.installed.includes('KB5043080'), 'the superseded update is not installed');
    assert.equal(result.updates.stoppedBy, 'nothing-left');
    assert.deepEqual(result.updates.componentCleanup, { resetBase: true, exitCode: 0 });
    const progress = (await handle.query('progress')) as { steps: Array<{ step: string; status: string }> };
    const steps = progress.steps.map((s) => s.step);
    for (const step of ['updates round 1', 'updates round 2', 'updates round 3', 'component cleanup'])
      assert.ok(steps.includes(step), `${step} is in the progress`);
    assert.ok(
      steps.indexOf('PV tools') < steps.indexOf('updates round 1') &&
        steps.indexOf('component cleanup') < steps.indexOf('cloudbase-init'),
      'after the PV tools, before cloudbase-init',
    );
    assert.deepEqual(result.warnings, []);
    assert.equal((await cloud.glance.getImage(result.imageId)).status, 'active');
  });
});
