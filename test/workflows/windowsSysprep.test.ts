// Sysprep failures, the operators' main pain: a known failure is reverted to the pre-sysprep snapshot, remedied
// and retried on its own; an unknown one waits for the operator's retrySysprep or abandon update.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { runCli } from '../helpers/cli.js';
import {
  assertNothingLeft,
  buildVm,
  identityOf,
  labConnection,
  rootFailure,
  waitForProgress,
  windowsInput,
} from '../helpers/builds.js';

interface Result {
  imageId: string;
  guestLogs: Array<{ moment: string; attempt: number; files: Array<{ path: string; lines: string[] }> }>;
  sysprepAttempts: Array<{
    attempt: number;
    outcome: string;
    failureType?: string;
    remedy?: string;
    pantherExcerpt?: string[];
  }>;
}

const APPX = 'Microsoft.MicrosoftEdge.Stable_120.0.2210.91_neutral__8wekyb3d8bbwe';

describe('windowsImage sysprep retries', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;

  before(async () => {
    lab = await startBuildLab();
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
  });

  test('a known failure (AppX 0x80073cf2): revert to the snapshot, remove the package, sysprep again', async () => {
    const workflowId = `sysprep-appx-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      // What slips through: without the pre-sysprep checks (which would remove the package first) sysprep finds it.
      args: [await windowsInput(lab, 'win-appx', { preSysprep: { checks: 'off' } })],
    });
    lab.guests.inject({ kind: 'sysprep-appx', vm: await buildVm(conn, identityOf(handle)), package: APPX });
    const result = (await handle.result()) as Result;
    assert.deepEqual(
      result.sysprepAttempts.map((a) => [a.attempt, a.outcome, a.failureType, a.remedy]),
      [
        [1, 'failed', 'SysprepAppxFailure', undefined],
        [2, 'succeeded', undefined, 'remove-appx'],
      ],
    );
    assert.ok(
      result.sysprepAttempts[0]!.pantherExcerpt?.some((l) => l.includes('0x80073cf2')),
      'the Panther excerpt is recorded',
    );
    assert.equal((await cloud.glance.getImage(result.imageId)).status, 'active');
    const steps = (await handle.query<BuildProgress>('progress')).steps.map(
      (s) => `${s.step}#${s.attempt}:${s.status}`,
    );
    for (const s of [
      'sysprep#1:failed',
      'collect logs#1:done',
      'revert to snapshot#2:done',
      'remedy#2:done',
      'sysprep#2:done',
      'collect logs#2:done',
    ])
      assert.ok(steps.includes(s), `${s} in ${steps.join(', ')}`);
    // The logs of the failed attempt, collected before the revert lost them, and those before the shutdown.
    assert.deepEqual(
      result.guestLogs.map((l) => [l.moment, l.attempt]),
      [
        ['sysprep failed', 1],
        ['before shutdown', 2],
      ],
    );
    assert.ok(
      result.guestLogs[0]!.files.some(
        (f) => f.path.includes('Panther') && f.lines.some((l) => l.includes('0x80073cf2')),
      ),
      'the failed run is in its Panther logs',
    );
    assert.ok(
      result.guestLogs.every((l) => l.files.every((f) => f.lines.length <= 200)),
      'at most 200 lines per file',
    );
    assert.ok(Buffer.byteLength(JSON.stringify(result.guestLogs)) < 80 * 1024, 'bounded per build');
    // The attempts are in the history too: each sysprep activity with its failure.
    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(history.includes('SysprepAppxFailure'));
  });

  /** The operator's `xenimage` command, pointed at this lab's Temporal. */
  const xenimage = (...args: string[]) =>
    runCli(args, {
      TEMPORAL_ADDRESS: lab.target.address,
      TEMPORAL_NAMESPACE: lab.target.namespace,
      XENIMAGE_STATE_DIR: lab.dir,
    });

  test('an unknown failure (sysprep hangs) waits for the operator; retrySysprep is validated, then succeeds', async () => {
    const workflowId = `sysprep-hang-${randomUUID().slice(0, 8)}`;
    const input = await windowsInput(lab, 'win-hang', {
      timeouts: { install: '3h', sysprep: '4s', halt: '1h', shutdown: '10m' },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input],
    });
    lab.guests.inject({ kind: 'sysprep-hang', vm: await buildVm(conn, identityOf(handle)), times: 1 });

    // Not waiting yet: the update is refused by its validator (through the client and through the CLI).
    await assert.rejects(
      handle.executeUpdate('retrySysprep', { args: [{}] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && /not waiting for an operator/.test(String(err.cause?.message)),
    );
    const early = await xenimage('retry-sysprep', workflowId);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /UpdateRejected: .*not waiting for an operator/);

    const waiting = await waitForProgress(handle, (p) => p.state === 'awaiting-operator');
    assert.match(waiting.waitingFor ?? '', /SysprepHung/);
    assert.equal((await handle.describe()).searchAttributes.XenimageStep?.[0], 'awaiting-operator');
    await assert.rejects(
      handle.executeUpdate('retrySysprep', { args: [{ remedy: 'rm -rf /' }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError && /unknown remedy/.test(String(err.cause?.message)),
    );

    // remove-appx needs a package the failure named; a hung sysprep named none.
    await assert.rejects(
      handle.executeUpdate('retrySysprep', { args: [{ remedy: 'remove-appx' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError &&
        /needs a failure that named an AppX package/.test(String(err.cause?.message)),
    );

    const badRemedy = await xenimage('retry-sysprep', workflowId, '--remedy', 'rm -rf /');
    assert.equal(badRemedy.code, 2, 'refused before it reaches the build');
    assert.match(badRemedy.stderr, /InvalidInput: unknown remedy/);

    const accepted = await xenimage('retry-sysprep', workflowId, '--remedy', 'none', '--note', 'dialog closed by hand');
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(accepted.stdout, /sysprep attempt 2 of .* started after the remedy none/);
    const result = (await handle.result()) as Result;
    assert.deepEqual(
      result.sysprepAttempts.map((a) => [a.outcome, a.failureType, a.remedy]),
      [
        ['failed', 'SysprepHung', undefined],
        ['succeeded', undefined, 'none'],
      ],
    );
  });

  test('abandon: the build gives up and cleans up everything it made', async () => {
    const workflowId = `sysprep-abandon-${randomUUID().slice(0, 8)}`;
    const input = await windowsInput(lab, 'win-abandon', {
      timeouts: { install: '3h', sysprep: '4s', halt: '1h', shutdown: '10m' },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input],
    });
    lab.guests.inject({ kind: 'sysprep-hang', vm: await buildVm(conn, identityOf(handle)), times: 1 });
    await waitForProgress(handle, (p) => p.state === 'awaiting-operator');
    const abandoned = await xenimage('abandon', workflowId, '--reason', 'giving up for the test');
    assert.equal(abandoned.code, 0, abandoned.stderr);
    await assert.rejects(handle.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.equal(failure?.type, 'Abandoned');
      assert.match(failure.message, /giving up for the test/);
      return true;
    });
    assert.equal((await handle.query<BuildProgress>('progress')).state, 'failed');
    await assertNothingLeft(lab, conn, cloud, identityOf(handle));
  });
});
