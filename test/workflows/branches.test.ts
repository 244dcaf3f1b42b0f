// Each branch of the build workflows in isolation, with fake activities (fakes.ts) on the real dev server: the
// commit point, the sysprep loop's automatic and operator paths, timeouts.shutdown, what keepOnFailure keeps and
// removes, the order of compensations.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { VmImageInput } from '../../src/contracts/vmImageInput.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { rootFailure, waitForProgress } from '../helpers/builds.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { fakeWorld, untilCancelled, type FakeWorld } from './fakes.js';

const SHA = '0'.repeat(64);

function windows(world: FakeWorld, overrides: Partial<WindowsImageInput> = {}): WindowsImageInput {
  return {
    pool: world.pool,
    installIso: 'install.iso',
    administrator: { name: 'builder', password: { secret: 'builder-admin' } },
    pvTools: { path: '/srv/tools.msi', sha256: SHA },
    cloudbaseInit: { path: '/srv/cbi.msi', sha256: SHA },
    image: { name: 'fake-windows' },
    cloud: 'fake-cloud',
    tuning: { heartbeatTimeout: '5s', retryInitialInterval: '1s', maxRetryInterval: '2s', transferTimeout: '10m' },
    ...overrides,
  };
}

function fromVm(world: FakeWorld, overrides: Partial<VmImageInput> = {}): VmImageInput {
  return {
    pool: world.pool,
    vm: { name: 'source' },
    image: { name: 'fake-from-vm' },
    cloud: 'fake-cloud',
    tuning: { heartbeatTimeout: '5s', retryInitialInterval: '1s', maxRetryInterval: '2s', transferTimeout: '10m' },
    ...overrides,
  };
}

const sysprepFailure = (type: string, details: Record<string, unknown>) =>
  ApplicationFailure.create({ type, message: `sysprep failed (${type})`, nonRetryable: true, details: [details] });

interface WindowsResult {
  imageId: string;
  warnings: string[];
  cleanedUp: unknown;
  verified: { imageId: string; checks: string[] };
  sysprepAttempts: Array<{ attempt: number; outcome: string; failureType?: string; remedy?: string }>;
  guestLogs: Array<{ moment: string; attempt: number }>;
}

describe('workflow branches (fake activities)', () => {
  let target: TemporalTarget;
  let client: Client;

  before(async () => {
    target = await testTemporal();
    client = await testClient(target);
  });

  const start = (
    world: FakeWorld,
    type: 'windowsImage' | 'vmImage',
    input: unknown,
  ): Promise<WorkflowHandle & { firstExecutionRunId: string }> =>
    client.workflow.start(type, { taskQueue: world.taskQueue, workflowId: `branch-${randomUUID()}`, args: [input] });

  test('commit point (windows): a failed cleanup after verification is a warning; nothing deletes the image', async () => {
    const world = await fakeWorld(target, {
      cleanupByTag: async () => {
        throw ApplicationFailure.nonRetryable('VM.destroy refused', 'XapiCallFailed');
      },
    });
    const handle = await start(world, 'windowsImage', windows(world));
    const result = (await handle.result()) as WindowsResult;
    assert.equal(result.verified.imageId, result.imageId, 'verified reports the verification that ran');
    assert.ok(result.verified.checks.includes('md5'));
    assert.equal(result.cleanedUp, null);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!, /^cleanup: .*VM\.destroy refused/);
    assert.deepEqual(world.called('deleteBuildImage'), [], 'no compensation deleted the image');
    // Once, as the clean image's eject before the snapshot; never as a compensation.
    const names = world.calls.map((c) => c.name);
    assert.equal(world.called('discardAnswerMedia').length, 1);
    assert.ok(names.indexOf('discardAnswerMedia') < names.indexOf('snapshot'));
    const progress = await handle.query<BuildProgress>('progress');
    assert.equal(progress.state, 'succeeded');
    assert.deepEqual(progress.warnings, result.warnings);
    assert.deepEqual(
      progress.steps.filter((s) => s.step === 'cleanup').map((s) => s.status),
      ['failed'],
    );
  });

  test('commit point (vmImage): restarting the source VM fails after verification: a warning, the image stands', async () => {
    let starts = 0;
    // The only startVm of a successful build is the restart after the commit point.
    const failing = await fakeWorld(target, {
      startVm: async () => {
        starts++;
        throw ApplicationFailure.nonRetryable('the host has no memory left', 'XapiHostNotEnoughFreeMemory');
      },
    });
    const failed = await start(failing, 'vmImage', fromVm(failing));
    const result = (await failed.result()) as { imageId: string; warnings: string[]; verified: { imageId: string } };
    assert.equal(starts, 1, 'one restart attempt, no compensation restarted it again');
    assert.equal(result.verified.imageId, result.imageId);
    assert.deepEqual(result.warnings.length, 1);
    assert.match(result.warnings[0]!, /^restart the VM: .*no memory left/);
    assert.deepEqual(failing.called('deleteBuildImage'), []);
  });

  test('before the commit point a failure undoes the build, newest first: the VM restarts, the image is deleted', async () => {
    const world = await fakeWorld(target, {
      verifyImage: async () => {
        throw ApplicationFailure.nonRetryable('downloaded bytes differ', 'ImageChecksumMismatch');
      },
    });
    const handle = await start(world, 'vmImage', fromVm(world));
    await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'ImageChecksumMismatch');
    const undo = world.calls
      .map((c) => c.name)
      .filter((n) => ['cleanupByTag', 'deleteBuildImage', 'startVm'].includes(n));
    assert.deepEqual(undo, ['cleanupByTag', 'deleteBuildImage', 'startVm']);
  });

  test('an AppX failure that names no package goes to the operator, who cannot pick remove-appx', async () => {
    let sysprepRuns = 0;
    const world = await fakeWorld(target, {
      runSysprep: async () => {
        if (++sysprepRuns === 1) throw sysprepFailure('SysprepAppxFailure', { package: null, hresult: '0x80073cf2' });
        return { imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', tagFile: true, shutdownIssued: false };
      },
    });
    const handle = await start(world, 'windowsImage', windows(world));
    const waiting = await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
    assert.match(waiting.waitingFor ?? '', /SysprepAppxFailure/);
    assert.deepEqual(world.called('applySysprepRemedy'), [], 'no automatic remedy without a package');
    await assert.rejects(
      handle.executeUpdate('retrySysprep', { args: [{ remedy: 'remove-appx' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && /named an AppX package/.test(String(err.cause?.message)),
    );
    await handle.executeUpdate('retrySysprep', { args: [{ remedy: 'reboot' }] });
    const result = (await handle.result()) as WindowsResult;
    assert.deepEqual(
      result.sysprepAttempts.map((a) => [a.attempt, a.outcome, a.failureType, a.remedy]),
      [
        [1, 'failed', 'SysprepAppxFailure', undefined],
        [2, 'succeeded', undefined, 'reboot'],
      ],
    );
    assert.deepEqual(
      world.called('applySysprepRemedy').map((i) => (i as { remedy: string }).remedy),
      ['reboot'],
    );
    assert.deepEqual(
      result.guestLogs.map((l) => [l.moment, l.attempt]),
      [
        ['sysprep failed', 1],
        ['before shutdown', 2],
      ],
    );
  });

  test('an AppX failure that names its package is remedied on its own, with that package', async () => {
    let sysprepRuns = 0;
    const world = await fakeWorld(target, {
      runSysprep: async () => {
        if (++sysprepRuns === 1) throw sysprepFailure('SysprepAppxFailure', { package: 'Contoso.App_1.0_x64__abc' });
        return { imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', tagFile: true, shutdownIssued: false };
      },
    });
    const handle = await start(world, 'windowsImage', windows(world));
    const result = (await handle.result()) as WindowsResult;
    assert.deepEqual(
      result.sysprepAttempts.map((a) => [a.outcome, a.remedy]),
      [
        ['failed', undefined],
        ['succeeded', 'remove-appx'],
      ],
    );
    const [remedy] = world.called('applySysprepRemedy') as Array<{ remedy: string; failure: { details: object } }>;
    assert.deepEqual(
      [remedy?.remedy, remedy?.failure.details],
      ['remove-appx', { package: 'Contoso.App_1.0_x64__abc' }],
    );
    // The revert came before the remedy, and the guest stayed up for its logs before the shutdown.
    const order = world.calls.map((c) => c.name);
    assert.ok(order.indexOf('revert') < order.indexOf('applySysprepRemedy'));
    assert.ok(order.lastIndexOf('collectLogs') < order.indexOf('sealGuest'));
    assert.ok(order.indexOf('sealGuest') < order.indexOf('waitForHalt'));
  });

  test('a remedy that fails goes to the operator; abandon then cleans up', async () => {
    let sysprepRuns = 0;
    const world = await fakeWorld(target, {
      runSysprep: async () => {
        sysprepRuns++;
        throw sysprepFailure('SysprepReservedStorage', {});
      },
      applySysprepRemedy: async () => {
        throw ApplicationFailure.nonRetryable('the guest refused the reboot', 'GuestCommandFailed');
      },
    });
    const handle = await start(world, 'windowsImage', windows(world));
    const waiting = await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
    assert.match(waiting.waitingFor ?? '', /RemedyFailed/);
    assert.equal(sysprepRuns, 1, 'sysprep did not run after the failed remedy');
    await handle.executeUpdate('abandon', { args: [{ reason: 'enough' }] });
    await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'Abandoned');
    assert.equal(world.called('cleanupByTag').length, 1);
  });

  test('onUnknownFailure "fail": an unknown sysprep failure fails the build at once, typed', async () => {
    const world = await fakeWorld(target, {
      runSysprep: async () => {
        throw sysprepFailure('SysprepUnknownFailure', { imageState: 'IMAGE_STATE_COMPLETE' });
      },
    });
    const handle = await start(
      world,
      'windowsImage',
      windows(world, { sysprep: { maxAttempts: 3, onUnknownFailure: 'fail', operatorTimeout: '24h' } }),
    );
    await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'SysprepUnknownFailure');
    assert.equal(world.called('runSysprep').length, 1);
  });

  test('timeouts.shutdown bounds the clean shutdown of the device_id restart', async () => {
    const world = await fakeWorld(target, {
      removeDeviceId: async () => ({ wasSet: true, value: '0002' }),
      cleanShutdown: () => untilCancelled(),
    });
    const started = Date.now();
    const handle = await start(
      world,
      'windowsImage',
      windows(world, { timeouts: { install: '3h', sysprep: '30m', halt: '1h', shutdown: '3s' } }),
    );
    await assert.rejects(handle.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.equal(failure?.type, 'ShutdownFailed');
      assert.match(failure.message, /within 3s/);
      return true;
    });
    assert.ok(Date.now() - started < 60_000);
    assert.equal(world.called('cleanShutdown').length, 1);
    assert.deepEqual(world.called('addAdministrator'), [], 'nothing ran after the failed restart');

    const quick = await fakeWorld(target, { removeDeviceId: async () => ({ wasSet: true, value: '0002' }) });
    const ok = (await (await start(quick, 'windowsImage', windows(quick))).result()) as WindowsResult;
    assert.ok(ok.imageId);
    const order = quick.calls.map((c) => c.name);
    assert.ok(order.indexOf('cleanShutdown') < order.lastIndexOf('startVm'), 'shut down, then started again');
  });

  test('keepOnFailure keeps the VM and disks but discards the answer ISO; without it, everything goes, newest first', async () => {
    const failInstall = {
      waitForGuest: async () => {
        throw ApplicationFailure.nonRetryable('the guest agent did not report in time', 'XapiWaitTimeout');
      },
    };
    const kept = await fakeWorld(target, failInstall);
    const keeping = await start(kept, 'windowsImage', windows(kept, { keepOnFailure: true }));
    await assert.rejects(keeping.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.equal(failure?.type, 'XapiWaitTimeout');
      assert.match(failure.message, /kept for debugging: VM "xenimage fake"/);
      return true;
    });
    assert.equal(kept.called('discardAnswerMedia').length, 1, 'the answer ISO (secrets) is discarded');
    assert.deepEqual(kept.called('cleanupByTag'), [], 'the VM and its disks are kept');
    assert.deepEqual(kept.called('deleteBuildImage'), []);

    const cleaned = await fakeWorld(target, failInstall);
    await assert.rejects((await start(cleaned, 'windowsImage', windows(cleaned))).result());
    assert.deepEqual(
      cleaned.calls
        .map((c) => c.name)
        .filter((n) => ['discardAnswerMedia', 'cleanupByTag', 'deleteBuildImage'].includes(n)),
      ['discardAnswerMedia', 'cleanupByTag', 'deleteBuildImage'],
    );
  });

  test('every activity that makes or finds build objects is given the build identity (workflow ID @ first run)', async () => {
    const world = await fakeWorld(target);
    const handle = await start(world, 'windowsImage', windows(world));
    await handle.result();
    const identity = `${handle.workflowId}@${handle.firstExecutionRunId}`;
    for (const name of ['prepareAnswerMedia', 'createVm', 'snapshot', 'exportToGlance', 'cleanupByTag'] as const)
      for (const input of world.called(name)) assert.equal((input as { build: string }).build, identity, name);
    const guest = (world.called('addAdministrator')[0] as { guest: { password: unknown } }).guest;
    assert.deepEqual(guest.password, { generated: 'windows-admin', build: identity }, 'a derived secret, by reference');
  });
});
