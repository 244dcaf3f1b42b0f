// Each branch of windowsImage and vmImage in isolation: fake activities (fakes.ts) on the time-skipping test server
// (test/helpers/timeSkipping.ts), so hours of workflow time — the operator's 24 h — pass while a test awaits the
// result. Time stands still while an activity runs, so a bound on a running activity (a clean shutdown) is tested
// with a bound of seconds. The sysprep loop's automatic and operator paths, the update validators, cancellation at
// each kind of step, the order of compensations, keepOnFailure, and the commit point.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test, type TestContext } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { optionalTsToMs, tsToMs } from '@temporalio/common/lib/time.js';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { VmImageInput } from '../../src/contracts/vmImageInput.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import { rootFailure, waitForProgress } from '../helpers/builds.js';
import { startTimeSkipping, type TimeSkipping } from '../helpers/timeSkipping.js';
import { waitFor } from '../helpers/waitFor.js';
import type { Activities } from '../../activities/index.js';
import { blocking, fakeWorld, FAKE_DISK, untilCancelled, type FakeWorld } from './fakes.js';

type ActivityName = keyof Activities;

const SHA = '0'.repeat(64);
const TUNING = { heartbeatTimeout: '5s', retryInitialInterval: '1s', maxRetryInterval: '2s', transferTimeout: '10m' };

function windows(world: FakeWorld, overrides: Partial<WindowsImageInput> = {}): WindowsImageInput {
  return {
    pool: world.pool,
    installIso: 'install.iso',
    administrator: { name: 'builder', password: { secret: 'builder-admin' } },
    pvTools: { path: '/srv/tools.msi', sha256: SHA },
    cloudbaseInit: { path: '/srv/cbi.msi', sha256: SHA },
    image: { name: 'fake-windows' },
    cloud: 'fake-cloud',
    tuning: TUNING,
    ...overrides,
  };
}

function fromVm(world: FakeWorld, overrides: Partial<VmImageInput> = {}): VmImageInput {
  return {
    pool: world.pool,
    vm: { name: 'source' },
    image: { name: 'fake-from-vm' },
    cloud: 'fake-cloud',
    tuning: TUNING,
    ...overrides,
  };
}

const sysprepFailure = (type: string, details: Record<string, unknown>) =>
  ApplicationFailure.create({ type, message: `sysprep failed (${type})`, nonRetryable: true, details: [details] });

const GENERALIZED = { imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', tagFile: true, shutdownIssued: false };

/** runSysprep that throws `failures` in turn, then generalizes. */
function sysprepFailing(...failures: ApplicationFailure[]) {
  let runs = 0;
  return async () => {
    const failure = failures[runs++];
    if (failure) throw failure;
    return GENERALIZED;
  };
}

interface WindowsResult {
  imageId: string;
  warnings: string[];
  cleanedUp: unknown;
  deviceId: { wasSet: boolean };
  pvDrivers: Record<string, string>;
  verified: { imageId: string; checks: string[] };
  sysprepAttempts: Array<{ attempt: number; outcome: string; failureType?: string; remedy?: string }>;
  guestLogs: Array<{ moment: string; attempt: number }>;
}

interface VmResult {
  imageId: string;
  shutdown: string;
  normalized: boolean;
  warnings: string[];
  verified: { imageId: string };
}

/** What undoes a Windows build, in the order the saga may call it. */
const WINDOWS_UNDO = ['discardAnswerMedia', 'cleanupByTag', 'deleteBuildImage'] as const;

function isCancelled(err: unknown): boolean {
  return err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure;
}

function attempts(result: WindowsResult) {
  return result.sysprepAttempts.map((a) => [a.attempt, a.outcome, a.failureType, a.remedy]);
}

/** Hours of workflow time from the start of a closed build to its end (from its history). */
async function workflowHours(handle: WorkflowHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  return (tsToMs(events.at(-1)!.eventTime) - tsToMs(events[0]!.eventTime)) / 3_600_000;
}

/** The timeouts (seconds) and retry intervals each activity type was first scheduled with (from the history). */
async function scheduledOptions(handle: WorkflowHandle) {
  const seconds = (d: Parameters<typeof optionalTsToMs>[0]) => (optionalTsToMs(d) ?? 0) / 1000;
  const options = new Map<
    string,
    { scheduleToStart: number; startToClose: number; heartbeat: number; retry: number[] }
  >();
  for (const e of (await handle.fetchHistory()).events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    const type = a?.activityType?.name;
    if (!a || !type || options.has(type)) continue;
    options.set(type, {
      scheduleToStart: seconds(a.scheduleToStartTimeout),
      startToClose: seconds(a.startToCloseTimeout),
      heartbeat: seconds(a.heartbeatTimeout),
      retry: [seconds(a.retryPolicy?.initialInterval), seconds(a.retryPolicy?.maximumInterval)],
    });
  }
  return options;
}

describe('workflow branches (fake activities, time skipping)', () => {
  let ts: TimeSkipping;
  let shared: FakeWorld;

  before(async () => {
    ts = await startTimeSkipping();
    shared = await fakeWorld(ts.target);
  });

  /** The fakes of one test (the tests run one after the other on the shared workers). */
  function world(overrides: Parameters<FakeWorld['use']>[0] = {}): FakeWorld {
    return shared.use(overrides);
  }

  /** Starts a build; a test that leaves it running (a refused update, say) has it terminated when it ends. */
  async function start(t: TestContext, w: FakeWorld, type: 'windowsImage' | 'vmImage', input: unknown) {
    const handle = await ts.env.client.workflow.start(type, {
      taskQueue: w.taskQueue,
      workflowId: `branch-${randomUUID()}`,
      args: [input],
    });
    t.after(async () => {
      const { status } = await handle.describe();
      if (status.name === 'RUNNING') await handle.terminate('test ended');
    });
    return handle;
  }

  describe('windowsImage: the sysprep loop', () => {
    const known: Array<[type: string, details: Record<string, unknown>, remedy: string]> = [
      ['SysprepAppxFailure', { package: 'Contoso.App_1.0_x64__abc' }, 'remove-appx'],
      ['SysprepReservedStorage', {}, 'reboot'],
      ['SysprepUndeployable', {}, 'none'],
    ];
    for (const [type, details, remedy] of known) {
      test(`${type} → revert to the snapshot, remedy ${remedy}, retry: generalized on attempt 2`, async (t) => {
        const w = world({ runSysprep: sysprepFailing(sysprepFailure(type, details)) });
        const result = (await (await start(t, w, 'windowsImage', windows(w))).result()) as WindowsResult;
        assert.deepEqual(attempts(result), [
          [1, 'failed', type, undefined],
          [2, 'succeeded', undefined, remedy],
        ]);
        assert.equal(w.called('revert').length, 1, 'one revert to the pre-sysprep snapshot');
        const remedies = w.called('applySysprepRemedy') as Array<{ remedy: string; failure: { type: string } }>;
        // "none" retries as is: no remedy runs in the guest.
        assert.deepEqual(
          remedies.map((r) => [r.remedy, r.failure.type]),
          remedy === 'none' ? [] : [[remedy, type]],
        );
        const order = w.names();
        assert.ok(order.indexOf('revert') < order.lastIndexOf('waitForWinrm'), 'the guest came back after the revert');
        if (remedy !== 'none') assert.ok(order.indexOf('revert') < order.indexOf('applySysprepRemedy'));
        assert.deepEqual(
          result.guestLogs.map((l) => [l.moment, l.attempt]),
          [
            ['sysprep failed', 1],
            ['before shutdown', 2],
          ],
        );
      });
    }

    test('an AppX failure that names no package goes to the operator, who cannot pick remove-appx', async (t) => {
      const w = world({
        runSysprep: sysprepFailing(sysprepFailure('SysprepAppxFailure', { package: null, hresult: '0x80073cf2' })),
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      const waiting = await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      assert.match(waiting.waitingFor ?? '', /SysprepAppxFailure/);
      assert.deepEqual(w.called('applySysprepRemedy'), [], 'no automatic remedy without a package');
      await assert.rejects(
        handle.executeUpdate('retrySysprep', { args: [{ remedy: 'remove-appx' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /named an AppX package/.test(String(err.cause?.message)),
      );
      await handle.executeUpdate('retrySysprep', { args: [{ remedy: 'reboot' }] });
      const result = (await handle.result()) as WindowsResult;
      assert.deepEqual(attempts(result), [
        [1, 'failed', 'SysprepAppxFailure', undefined],
        [2, 'succeeded', undefined, 'reboot'],
      ]);
      assert.deepEqual(
        w.called('applySysprepRemedy').map((i) => (i as { remedy: string }).remedy),
        ['reboot'],
      );
    });

    test('attempts exhausted: after maxAttempts automatic tries the operator decides; no remedy named keeps the automatic one', async (t) => {
      const reserved = sysprepFailure('SysprepReservedStorage', {});
      const w = world({ runSysprep: sysprepFailing(reserved, reserved) });
      const handle = await start(
        t,
        w,
        'windowsImage',
        windows(w, { sysprep: { maxAttempts: 2, onUnknownFailure: 'wait', operatorTimeout: '24h' } }),
      );
      const waiting = await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      assert.match(waiting.waitingFor ?? '', /attempt 2 failed \(SysprepReservedStorage\)/);
      assert.equal(w.called('runSysprep').length, 2, 'no third automatic attempt');
      const accepted = await handle.executeUpdate('retrySysprep', { args: [{}] });
      assert.deepEqual(accepted, { accepted: true, attempt: 3 });
      const result = (await handle.result()) as WindowsResult;
      assert.deepEqual(attempts(result), [
        [1, 'failed', 'SysprepReservedStorage', undefined],
        [2, 'failed', 'SysprepReservedStorage', 'reboot'],
        [3, 'succeeded', undefined, 'reboot'],
      ]);
      assert.equal(w.called('revert').length, 2);
    });

    test('an unknown failure waits for the operator, whose script remedy runs before the next attempt', async (t) => {
      const w = world({
        runSysprep: sysprepFailing(sysprepFailure('SysprepUnknownFailure', { imageState: 'IMAGE_STATE_COMPLETE' })),
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      assert.deepEqual(w.called('revert'), [], 'nothing is reverted before the operator decides');
      await handle.executeUpdate('retrySysprep', { args: [{ remedy: 'script:fix-store' }] });
      const result = (await handle.result()) as WindowsResult;
      assert.deepEqual(attempts(result), [
        [1, 'failed', 'SysprepUnknownFailure', undefined],
        [2, 'succeeded', undefined, 'script:fix-store'],
      ]);
      assert.deepEqual(
        w.called('applySysprepRemedy').map((i) => (i as { remedy: string }).remedy),
        ['script:fix-store'],
      );
    });

    test('onUnknownFailure "fail": an unknown sysprep failure fails the build at once, typed, and cleans up', async (t) => {
      const w = world({
        runSysprep: async () => {
          throw sysprepFailure('SysprepUnknownFailure', { imageState: 'IMAGE_STATE_COMPLETE' });
        },
      });
      const handle = await start(
        t,
        w,
        'windowsImage',
        windows(w, { sysprep: { maxAttempts: 3, onUnknownFailure: 'fail', operatorTimeout: '24h' } }),
      );
      await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'SysprepUnknownFailure');
      assert.equal(w.called('runSysprep').length, 1);
      assert.deepEqual(
        w.names().filter((n) => (WINDOWS_UNDO as readonly string[]).includes(n)),
        // The clean image's eject before the pre-sysprep snapshot, then the compensations.
        ['discardAnswerMedia', ...WINDOWS_UNDO],
      );
    });

    test('onUnknownFailure "fail" still remedies a known failure on its own', async (t) => {
      const w = world({ runSysprep: sysprepFailing(sysprepFailure('SysprepReservedStorage', {})) });
      const handle = await start(
        t,
        w,
        'windowsImage',
        windows(w, { sysprep: { maxAttempts: 3, onUnknownFailure: 'fail', operatorTimeout: '24h' } }),
      );
      const result = (await handle.result()) as WindowsResult;
      assert.deepEqual(attempts(result).at(-1), [2, 'succeeded', undefined, 'reboot']);
    });

    test('operator timeout: nobody answers for 24 h of workflow time; the build fails typed and cleans up', async (t) => {
      const w = world({
        runSysprep: async () => {
          throw sysprepFailure('SysprepUnknownFailure', {});
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'OperatorTimeout');
        assert.match(failure.message, /no operator decision within 24h/);
        return true;
      });
      assert.ok((await workflowHours(handle)) >= 24, 'the 24 h passed on the workflow clock');
      assert.deepEqual(
        w.names().filter((n) => (WINDOWS_UNDO as readonly string[]).includes(n)),
        // The clean image's eject before the pre-sysprep snapshot, then the compensations.
        ['discardAnswerMedia', ...WINDOWS_UNDO],
      );
      const progress = await handle.query<BuildProgress>('progress');
      assert.equal(progress.state, 'failed');
    });

    test('abandon: the operator gives up; the reason is in the failure and everything is cleaned up', async (t) => {
      const w = world({
        runSysprep: async () => {
          throw sysprepFailure('SysprepUnknownFailure', {});
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      assert.deepEqual(await handle.executeUpdate('abandon', { args: [{ reason: 'broken install media' }] }), {
        accepted: true,
      });
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'Abandoned');
        assert.match(failure.message, /broken install media/);
        return true;
      });
      assert.equal(w.called('runSysprep').length, 1, 'no attempt after the abandon');
      assert.deepEqual(
        w.names().filter((n) => (WINDOWS_UNDO as readonly string[]).includes(n)),
        // The clean image's eject before the pre-sysprep snapshot, then the compensations.
        ['discardAnswerMedia', ...WINDOWS_UNDO],
      );
    });

    test('a remedy that fails goes to the operator without running sysprep; abandon then cleans up', async (t) => {
      const w = world({
        runSysprep: async () => {
          throw sysprepFailure('SysprepReservedStorage', {});
        },
        applySysprepRemedy: async () => {
          throw ApplicationFailure.nonRetryable('the guest refused the reboot', 'GuestCommandFailed');
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      const waiting = await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      assert.match(waiting.waitingFor ?? '', /attempt 2 failed \(RemedyFailed\)/);
      assert.equal(w.called('runSysprep').length, 1, 'sysprep did not run after the failed remedy');
      await handle.executeUpdate('abandon', { args: [{ reason: 'enough' }] });
      await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'Abandoned');
      assert.equal(w.called('cleanupByTag').length, 1);
    });
  });

  describe('windowsImage: the update validators', () => {
    test('retrySysprep and abandon are refused while the build is not waiting for an operator, and change nothing', async (t) => {
      const install = blocking();
      const w = world({ waitForGuest: install.fake });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await waitFor('the install wait', install.started);
      const early: Array<[string, [object]]> = [
        ['retrySysprep', [{}]],
        ['abandon', [{ reason: 'too early' }]],
      ];
      for (const [update, args] of early) {
        await assert.rejects(
          handle.executeUpdate(update, { args }),
          (err: unknown) =>
            err instanceof WorkflowUpdateFailedError && /not waiting for an operator/.test(String(err.cause?.message)),
          update,
        );
      }
      const progress = await handle.query<BuildProgress>('progress');
      assert.equal(progress.state, 'running');
      assert.equal(progress.step, 'install Windows');
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(
        !events.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes),
        'a refused update leaves no trace in the history',
      );
    });

    test('an unknown remedy is refused; the build keeps waiting and a valid answer still works', async (t) => {
      const w = world({
        runSysprep: sysprepFailing(sysprepFailure('SysprepUnknownFailure', {})),
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      for (const remedy of ['format-c', 'script:', 'script:../etc/passwd']) {
        await assert.rejects(
          handle.executeUpdate('retrySysprep', { args: [{ remedy }] }),
          (err: unknown) =>
            err instanceof WorkflowUpdateFailedError && /unknown remedy/.test(String(err.cause?.message)),
          remedy,
        );
      }
      assert.equal((await handle.query<BuildProgress>('progress')).state, 'awaiting-operator');
      await handle.executeUpdate('retrySysprep', { args: [{ remedy: 'none' }] });
      const result = (await handle.result()) as WindowsResult;
      assert.deepEqual(attempts(result).at(-1), [2, 'succeeded', undefined, 'none']);
    });
  });

  describe('windowsImage: cancellation at each kind of step', () => {
    // A quick call is cancelled without waiting for it (TRY_CANCEL): the server forgets it, so the activity hears
    // NOT_FOUND on its next heartbeat; waits and transfers hear CANCELLED and the workflow waits for them to stop.
    const points: Array<[kind: string, activity: ActivityName, reason: string]> = [
      ['the answer media', 'prepareAnswerMedia', 'CANCELLED'],
      ['create (a quick XAPI call)', 'createVm', 'NOT_FOUND'],
      ['the install wait', 'waitForGuest', 'CANCELLED'],
      ['a guest step', 'addAdministrator', 'CANCELLED'],
      ['sysprep', 'runSysprep', 'CANCELLED'],
      ['the seal and shutdown', 'sealGuest', 'CANCELLED'],
      ['the halt wait', 'waitForHalt', 'CANCELLED'],
      ['the export and upload', 'exportToGlance', 'CANCELLED'],
    ];
    for (const [kind, activity, reason] of points) {
      test(`cancelled during ${kind}: the activity is cancelled, nothing else runs, the build is undone newest first`, async (t) => {
        const step = blocking();
        const w = world({ [activity]: step.fake });
        const handle = await start(t, w, 'windowsImage', windows(w));
        await waitFor(`${activity} to run`, step.started);
        const before = w.calls.length;
        await handle.cancel();
        await assert.rejects(handle.result(), isCancelled);
        assert.equal(await waitFor(`${activity} to be told to stop`, step.reason), reason);
        assert.deepEqual(w.names().slice(before), [...WINDOWS_UNDO], 'only the compensations ran after the cancel');
        assert.equal((await handle.query<BuildProgress>('progress')).state, 'cancelled');
      });
    }

    test('cancelled while waiting for the operator: the build is undone', async (t) => {
      const w = world({ runSysprep: sysprepFailing(sysprepFailure('SysprepUnknownFailure', {})) });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await waitForProgress(handle, (p) => p.state === 'awaiting-operator', 60_000);
      const before = w.calls.length;
      await handle.cancel();
      await assert.rejects(handle.result(), isCancelled);
      assert.deepEqual(w.names().slice(before), [...WINDOWS_UNDO]);
    });

    test('cancelled after the commit point (during the cleanup): the cleanup finishes, the build succeeds, the image stays', async (t) => {
      let cleanupRunning = false;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      t.after(() => release());
      const w = world({
        cleanupByTag: async () => {
          cleanupRunning = true;
          await released;
          return { vms: ['xenimage fake'], snapshots: [], vdis: ['disk'], kept: [] };
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await waitFor('the cleanup after the commit point', () => cleanupRunning);
      await handle.cancel();
      await waitFor('the cancel request in the history', async () =>
        ((await handle.fetchHistory()).events ?? []).some((e) => e.workflowExecutionCancelRequestedEventAttributes),
      );
      release();
      const result = (await handle.result()) as WindowsResult;
      assert.deepEqual(result.cleanedUp, { vms: 1, vdis: 1 });
      assert.deepEqual(result.warnings, []);
      assert.deepEqual(w.called('deleteBuildImage'), [], 'nothing deleted the image');
      assert.equal(w.called('cleanupByTag').length, 1);
    });
  });

  describe('windowsImage: failures, compensations and the commit point', () => {
    test('commit point: a failed cleanup after verification is a warning; nothing deletes the image', async (t) => {
      const w = world({
        cleanupByTag: async () => {
          throw ApplicationFailure.nonRetryable('VM.destroy refused', 'XapiCallFailed');
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      const result = (await handle.result()) as WindowsResult;
      assert.equal(result.verified.imageId, result.imageId, 'verified reports the verification that ran');
      assert.ok(result.verified.checks.includes('md5'));
      assert.equal(result.cleanedUp, null);
      assert.equal(result.warnings.length, 1);
      assert.match(result.warnings[0]!, /^cleanup: .*VM\.destroy refused/);
      assert.deepEqual(w.called('deleteBuildImage'), [], 'no compensation deleted the image');
      // Once, as the clean image's eject before the snapshot; never as a compensation.
      assert.equal(w.called('discardAnswerMedia').length, 1);
      assert.ok(w.names().indexOf('discardAnswerMedia') < w.names().indexOf('snapshot'));
      const progress = await handle.query<BuildProgress>('progress');
      assert.equal(progress.state, 'succeeded');
      assert.deepEqual(progress.warnings, result.warnings);
      assert.deepEqual(
        progress.steps.filter((s) => s.step === 'cleanup').map((s) => s.status),
        ['failed'],
      );
    });

    test('a failed verification (before the commit point) deletes the image, newest compensation first', async (t) => {
      const w = world({
        verifyImage: async () => {
          throw ApplicationFailure.nonRetryable('downloaded bytes differ', 'ImageChecksumMismatch');
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'ImageChecksumMismatch');
      assert.deepEqual(w.names().slice(w.names().indexOf('verifyImage') + 1), [...WINDOWS_UNDO]);
    });

    test('bad input fails typed before any activity runs', async (t) => {
      const w = world();
      const handle = await start(t, w, 'windowsImage', { ...windows(w), vm: { memoryMiB: 12 } });
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'InvalidInput');
        assert.match(failure.message, /memoryMiB/);
        return true;
      });
      assert.deepEqual(w.calls, []);
    });

    test('a pool no worker polls: UnknownPool after tuning.poolWorkerTimeout, nothing made', async (t) => {
      const w = world({ queuePollers: async () => ({ pollers: 0, identities: [] }) });
      // A scheduled activity holds the test server's clock like a running one: the bound is a real second.
      const input = windows(w, {
        pool: `nowhere-${randomUUID().slice(0, 8)}`,
        tuning: { ...TUNING, poolWorkerTimeout: '1s' },
      });
      const handle = await start(t, w, 'windowsImage', input);
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'UnknownPool');
        assert.match(failure.message, /no worker serves pool "nowhere-.*within 1s/);
        return true;
      });
      assert.deepEqual(w.names(), ['queuePollers'], 'nothing ran on any pool, nothing to undo');
    });

    test('a failure before anything is made (secrets missing) undoes nothing', async (t) => {
      const w = world({
        checkSecrets: async () => {
          throw ApplicationFailure.nonRetryable('secret builder-admin is not configured', 'SecretMissing');
        },
      });
      const handle = await start(t, w, 'windowsImage', windows(w));
      await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'SecretMissing');
      assert.deepEqual(w.names(), ['validateTargets', 'checkSecrets']);
    });

    test('the device_id restart: shut down cleanly, start, re-check the PV drivers and WinRM at the new address', async (t) => {
      let guests = 0;
      const w = world({
        removeDeviceId: async () => ({ wasSet: true, value: '0002' }),
        waitForGuest: async () => ({
          ip: ++guests === 1 ? '192.0.2.10' : '192.0.2.11',
          pvDriversVersion: guests === 1 ? { major: '9', minor: '3' } : { major: '9', minor: '4' },
          pvDriversDetected: true,
          osVersion: {},
          other: {},
        }),
      });
      const result = (await (await start(t, w, 'windowsImage', windows(w))).result()) as WindowsResult;
      assert.deepEqual(result.deviceId, { wasSet: true, value: '0002' });
      assert.deepEqual(result.pvDrivers, { major: '9', minor: '4' }, 'the drivers as they bound after the restart');
      const order = w.names();
      const removed = order.indexOf('removeDeviceId');
      assert.deepEqual(order.slice(removed, removed + 5), [
        'removeDeviceId',
        'cleanShutdown',
        'startVm',
        'waitForGuest',
        'waitForWinrm',
      ]);
      const admin = w.called('addAdministrator')[0] as { guest: { address: string } };
      assert.equal(admin.guest.address, '192.0.2.11', 'the guest steps after the restart use its new address');
    });

    test('timeouts.shutdown bounds the clean shutdown of the device_id restart', async (t) => {
      const w = world({
        removeDeviceId: async () => ({ wasSet: true, value: '0002' }),
        cleanShutdown: () => untilCancelled(),
      });
      const handle = await start(
        t,
        w,
        'windowsImage',
        windows(w, { timeouts: { install: '3h', sysprep: '30m', halt: '1h', shutdown: '1s' } }),
      );
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'ShutdownFailed');
        assert.match(failure.message, /within 1s/);
        return true;
      });
      assert.equal(w.called('cleanShutdown').length, 1);
      assert.deepEqual(w.called('addAdministrator'), [], 'nothing ran after the failed restart');
    });

    test('keepOnFailure keeps the VM and disks but discards the answer ISO; without it, everything goes, newest first', async (t) => {
      const failInstall = {
        waitForGuest: async () => {
          throw ApplicationFailure.nonRetryable('the guest agent did not report in time', 'XapiWaitTimeout');
        },
      };
      const kept = world(failInstall);
      await assert.rejects(
        (await start(t, kept, 'windowsImage', windows(kept, { keepOnFailure: true }))).result(),
        (err: unknown) => {
          const failure = rootFailure(err);
          assert.equal(failure?.type, 'XapiWaitTimeout');
          assert.match(failure.message, /kept for debugging: VM "xenimage fake"/);
          return true;
        },
      );
      assert.equal(kept.called('discardAnswerMedia').length, 1, 'the answer ISO (secrets) is discarded');
      assert.deepEqual(kept.called('cleanupByTag'), [], 'the VM and its disks are kept');
      assert.deepEqual(kept.called('deleteBuildImage'), []);

      const cleaned = world(failInstall);
      await assert.rejects((await start(t, cleaned, 'windowsImage', windows(cleaned))).result());
      assert.deepEqual(
        cleaned.names().filter((n) => (WINDOWS_UNDO as readonly string[]).includes(n)),
        [...WINDOWS_UNDO],
      );
    });

    test('every activity that makes or finds build objects is given the build identity (workflow ID @ first run)', async (t) => {
      const w = world();
      const handle = await start(t, w, 'windowsImage', windows(w));
      await handle.result();
      const identity = `${handle.workflowId}@${handle.firstExecutionRunId}`;
      for (const name of [
        'prepareAnswerMedia',
        'createVm',
        'snapshot',
        'revert',
        'exportToGlance',
        'cleanupByTag',
      ] as const)
        for (const input of w.called(name)) assert.equal((input as { build: string }).build, identity, name);
      const guest = (w.called('addAdministrator')[0] as { guest: { password: unknown } }).guest;
      assert.deepEqual(
        guest.password,
        { generated: 'windows-admin', build: identity },
        'a derived secret, by reference',
      );
    });
    test('every input field reaches what uses it: the activity inputs, and the tuning in the activity options', async (t) => {
      const w = world();
      // sysprep.*, timeouts.shutdown and keepOnFailure have branches of their own above.
      const input: WindowsImageInput = {
        ...windows(w),
        sr: 'Fast SR',
        network: 'Build network',
        installIso: 'win2022.iso',
        windows: {
          imageName: 'Windows Server 2022 Datacenter',
          productKey: { secret: 'win-key' },
          locale: 'de-DE',
          timeZone: 'W. Europe Standard Time',
          firmware: 'uefi',
          secureBoot: true,
          release: 'server-2025',
          computerName: 'GOLD-01',
        },
        vm: { memoryMiB: 8192, vcpus: 4, diskGiB: 64, vtpm: true },
        administrator: { name: 'gold.admin', password: { secret: 'gold-admin' } },
        pvTools: { url: 'https://tools.invalid/managementagent.msi', sha256: SHA },
        cloudbaseInit: { path: '/srv/CloudbaseInitSetup.msi', sha256: SHA },
        winrm: { isolatedNetwork: true },
        guestRemoteAccess: 'winrm-https',
        timeouts: { install: '2h', sysprep: '20m', halt: '40m', shutdown: '5m' },
        image: {
          name: 'gold-2022',
          visibility: 'public',
          properties: { os_distro: 'windows' },
          minDiskGiB: 64,
          minRamMiB: 4096,
        },
        cloud: 'production',
        tuning: {
          heartbeatTimeout: '7s',
          retryInitialInterval: '3s',
          maxRetryInterval: '9s',
          transferTimeout: '11m',
          poolWorkerTimeout: '13s',
          stallTimeout: '17s',
        },
      };
      const handle = await start(t, w, 'windowsImage', input);
      const result = (await handle.result()) as WindowsResult & { platform: { release: string; releaseFrom: string } };
      const first = <T>(name: ActivityName) => w.called(name)[0] as T;
      assert.deepEqual(first<object>('validateTargets'), {
        pool: w.pool,
        sr: 'Fast SR',
        network: 'Build network',
        isos: ['win2022.iso'],
        platform: { firmware: 'uefi', secureBoot: true, vtpm: true },
      });
      assert.deepEqual(first<{ refs: unknown[] }>('checkSecrets').refs, [
        { secret: 'gold-admin' },
        { secret: 'win-key' },
      ]);
      assert.deepEqual(first<{ cloud: string }>('checkCloud').cloud, 'production');
      const media = first<Record<string, unknown>>('prepareAnswerMedia');
      assert.deepEqual(
        [media.sr, media.firmware, media.image, media.productKey, media.computerName, media.timeZone, media.locale],
        [
          'Fast SR',
          'uefi',
          { name: 'Windows Server 2022 Datacenter' },
          { secret: 'win-key' },
          'GOLD-01',
          'W. Europe Standard Time',
          'de-DE',
        ],
      );
      assert.deepEqual(
        [media.isolatedNetwork, media.pvTools, media.cloudbaseInit],
        [true, input.pvTools, input.cloudbaseInit],
      );
      const vm = first<Record<string, unknown>>('createVm');
      assert.deepEqual(
        [vm.memoryMiB, vm.vcpus, vm.diskGiB, vm.sr, vm.network, vm.firmware, vm.secureBoot, vm.vtpm, vm.name],
        [8192, 4, 64, 'Fast SR', 'Build network', 'uefi', true, true, 'xenimage gold-2022'],
      );
      assert.equal(first<{ installIso: string }>('attachMedia').installIso, 'win2022.iso');
      assert.equal(first<{ timeoutMs: number }>('waitForGuest').timeoutMs, 2 * 3_600_000);
      assert.deepEqual(first<{ name: string; password: unknown }>('addAdministrator'), {
        guest: first<{ guest: unknown }>('addAdministrator').guest,
        name: 'gold.admin',
        password: { secret: 'gold-admin' },
      });
      assert.equal(first<{ timeoutSec: number }>('runSysprep').timeoutSec, 20 * 60);
      assert.equal(first<{ timeoutMs: number }>('waitForHalt').timeoutMs, 40 * 60_000);
      for (const name of ['removeBuildFiles', 'sealGuest'] as const)
        assert.equal(first<{ remoteAccess: string }>(name).remoteAccess, 'winrm-https', `guestRemoteAccess (${name})`);
      const exported = first<{
        cloud: string;
        image: object;
        properties: Record<string, string>;
        stallTimeoutMs: number;
      }>('exportToGlance');
      assert.equal(exported.cloud, 'production');
      assert.equal(exported.stallTimeoutMs, 17_000, 'tuning.stallTimeout');
      assert.deepEqual(
        [result.platform.release, result.platform.releaseFrom],
        ['server-2025', 'input'],
        'windows.release',
      );
      assert.deepEqual(exported.image, input.image);
      assert.deepEqual(
        [exported.properties.os_distro, exported.properties.xenimage_windows_image, exported.properties.vm_mode],
        ['windows', 'Windows Server 2022 Datacenter', 'hvm'],
      );
      assert.equal(first<{ cloud: string }>('verifyImage').cloud, 'production');
      const options = await scheduledOptions(handle);
      assert.deepEqual(options.get('validateTargets')?.scheduleToStart, 13, 'tuning.poolWorkerTimeout');
      const transfer = options.get('exportToGlance');
      assert.deepEqual(
        [transfer?.startToClose, transfer?.heartbeat, transfer?.retry],
        [11 * 60, 17 + 30, [3, 9]],
        'tuning.transferTimeout, stallTimeout (plus the margin), retryInitialInterval, maxRetryInterval',
      );
      assert.equal(options.get('waitForGuest')?.heartbeat, 7, 'tuning.heartbeatTimeout');
    });
  });

  describe('vmImage', () => {
    test('every input field reaches what uses it', async (t) => {
      const w = world();
      const input: VmImageInput = {
        ...fromVm(w),
        vm: { uuid: '5c1b9f0e-8a4d-4c33-9a61-3f0f3c8f2d11' },
        image: { name: 'from-vm', visibility: 'shared', properties: { os_distro: 'debian' }, minDiskGiB: 8 },
        osType: 'linux',
        cloud: 'production',
        compressionLevel: 9,
      };
      await (await start(t, w, 'vmImage', input)).result();
      assert.deepEqual(w.called('findVm')[0], { pool: w.pool, vm: { uuid: '5c1b9f0e-8a4d-4c33-9a61-3f0f3c8f2d11' } });
      const exported = w.called('exportToGlance')[0] as {
        cloud: string;
        image: object;
        compressionLevel: number;
        properties: Record<string, string>;
      };
      assert.deepEqual(
        [exported.cloud, exported.image, exported.compressionLevel, exported.properties.os_type],
        ['production', input.image, 9, 'linux'],
      );
    });

    test('a running VM: shut down cleanly, export, verify, start it again', async (t) => {
      const w = world();
      const result = (await (await start(t, w, 'vmImage', fromVm(w))).result()) as VmResult;
      assert.equal(result.shutdown, 'clean');
      assert.deepEqual(result.warnings, []);
      assert.deepEqual(w.names(), [
        'findVm',
        'checkCloud',
        'cleanShutdown',
        'findSystemDisk',
        'exportToGlance',
        'verifyImage',
        'cleanupByTag',
        'startVm',
      ]);
    });

    test('a halted VM is neither shut down nor started', async (t) => {
      const w = world({
        findVm: async () => ({
          ref: 'OpaqueRef:vm',
          uuid: 'vm-uuid',
          name: 'source',
          powerState: 'Halted',
          vmMode: 'xen',
          pvDrivers: false,
          systemDisk: { vdi: FAKE_DISK, virtualSize: 2 ** 30 },
        }),
        verifyImage: async () => {
          throw ApplicationFailure.nonRetryable('downloaded bytes differ', 'ImageChecksumMismatch');
        },
      });
      const failed = await start(t, w, 'vmImage', fromVm(w));
      await assert.rejects(failed.result(), (err: unknown) => rootFailure(err)?.type === 'ImageChecksumMismatch');
      assert.deepEqual(w.called('cleanShutdown'), []);
      assert.deepEqual(w.called('startVm'), [], 'no compensation starts a VM that was halted');
      const export_ = w.called('exportToGlance')[0] as { properties: Record<string, string> };
      assert.equal(export_.properties.vm_mode, 'xen', 'vm_mode comes from the VM');
    });

    test('a VM without a system disk fails typed before anything is made or shut down', async (t) => {
      const w = world({
        findVm: async () => ({
          ref: 'OpaqueRef:vm',
          uuid: 'vm-uuid',
          name: 'source',
          powerState: 'Running',
          vmMode: 'hvm',
          pvDrivers: true,
        }),
      });
      await assert.rejects(
        (await start(t, w, 'vmImage', fromVm(w))).result(),
        (err: unknown) => rootFailure(err)?.type === 'InvalidInput',
      );
      assert.deepEqual(w.names(), ['findVm']);
    });

    test('no clean shutdown within shutdown.timeout: ShutdownFailed, nothing exported, the VM is started again', async (t) => {
      const w = world({ cleanShutdown: () => untilCancelled() });
      const handle = await start(t, w, 'vmImage', fromVm(w, { shutdown: { timeout: '1s', allowHard: false } }));
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'ShutdownFailed');
        assert.match(failure.message, /within 1s.*allowHard/);
        return true;
      });
      assert.deepEqual(w.called('hardShutdown'), []);
      assert.deepEqual(w.names().slice(w.names().indexOf('cleanShutdown') + 1), ['startVm']);
    });

    test('shutdown.allowHard powers the VM off when the clean shutdown does not finish in time', async (t) => {
      const w = world({ cleanShutdown: () => untilCancelled() });
      const result = (await (
        await start(t, w, 'vmImage', fromVm(w, { shutdown: { timeout: '1s', allowHard: true } }))
      ).result()) as VmResult;
      assert.equal(result.shutdown, 'hard');
      assert.equal(w.called('hardShutdown').length, 1);
      assert.equal(w.called('startVm').length, 1, 'started again after the image was made');
    });

    test('normalize "xapi" exports the normalised VDI; "none" skips the step', async (t) => {
      const w = world({
        normalizeVdi: async () => ({ vdi: 'OpaqueRef:normalized', sr: 'EXT local', reused: false }),
      });
      const handle = await start(t, w, 'vmImage', fromVm(w, { normalize: 'xapi', normalizeSr: 'EXT local' }));
      const result = (await handle.result()) as VmResult;
      assert.equal(result.normalized, true);
      assert.deepEqual(
        w.called('normalizeVdi').map((i) => (i as { sr: string }).sr),
        ['EXT local'],
      );
      assert.equal((w.called('exportToGlance')[0] as { vdi: string }).vdi, 'OpaqueRef:normalized');

      const plain = world();
      const skipped = await start(t, plain, 'vmImage', fromVm(plain));
      assert.equal(((await skipped.result()) as VmResult).normalized, false);
      assert.deepEqual(plain.called('normalizeVdi'), []);
      const progress = await skipped.query<BuildProgress>('progress');
      assert.deepEqual(
        progress.steps.filter((s) => s.step === 'normalize through an EXT SR').map((s) => s.status),
        ['skipped'],
      );
    });

    test('commit point: restarting the source VM fails after verification: a warning, the image stands', async (t) => {
      const w = world({
        startVm: async () => {
          throw ApplicationFailure.nonRetryable('the host has no memory left', 'XapiHostNotEnoughFreeMemory');
        },
      });
      const result = (await (await start(t, w, 'vmImage', fromVm(w))).result()) as VmResult;
      assert.equal(w.called('startVm').length, 1, 'one restart attempt, no compensation restarted it again');
      assert.equal(result.verified.imageId, result.imageId);
      assert.equal(result.warnings.length, 1);
      assert.match(result.warnings[0]!, /^restart the VM: .*no memory left/);
      assert.deepEqual(w.called('deleteBuildImage'), []);
    });

    test('before the commit point a failure undoes the build, newest first: the VM restarts, the image is deleted', async (t) => {
      const w = world({
        verifyImage: async () => {
          throw ApplicationFailure.nonRetryable('downloaded bytes differ', 'ImageChecksumMismatch');
        },
      });
      const handle = await start(t, w, 'vmImage', fromVm(w));
      await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'ImageChecksumMismatch');
      assert.deepEqual(w.names().slice(w.names().indexOf('verifyImage') + 1), [
        'cleanupByTag',
        'deleteBuildImage',
        'startVm',
      ]);
    });

    const points: Array<[kind: string, activity: ActivityName, undo: string[]]> = [
      ['the clean shutdown', 'cleanShutdown', ['startVm']],
      ['the normalisation', 'normalizeVdi', ['cleanupByTag', 'deleteBuildImage', 'startVm']],
      ['the export and upload', 'exportToGlance', ['cleanupByTag', 'deleteBuildImage', 'startVm']],
    ];
    for (const [kind, activity, undo] of points) {
      test(`cancelled during ${kind}: the activity is cancelled, the build is undone newest first`, async (t) => {
        const step = blocking();
        const w = world({ [activity]: step.fake });
        const handle = await start(t, w, 'vmImage', fromVm(w, { normalize: 'xapi' }));
        await waitFor(`${activity} to run`, step.started);
        const before = w.calls.length;
        await handle.cancel();
        await assert.rejects(handle.result(), isCancelled);
        assert.equal(await waitFor(`${activity} to be told to stop`, step.reason), 'CANCELLED');
        assert.deepEqual(w.names().slice(before), undo);
      });
    }

    test('keepOnFailure keeps the image for debugging and still starts the VM again', async (t) => {
      const w = world({
        verifyImage: async () => {
          throw ApplicationFailure.nonRetryable('downloaded bytes differ', 'ImageChecksumMismatch');
        },
        listBuildImages: async () => ['image-kept queued'],
        listTagged: async () => [],
      });
      await assert.rejects(
        (await start(t, w, 'vmImage', fromVm(w, { keepOnFailure: true }))).result(),
        (err: unknown) => {
          assert.match(rootFailure(err)?.message ?? '', /kept for debugging: image-kept/);
          return true;
        },
      );
      assert.deepEqual(w.called('deleteBuildImage'), []);
      assert.deepEqual(w.called('cleanupByTag'), []);
      assert.equal(w.called('startVm').length, 1, "the operator's VM runs again: it is not a leftover");
    });
  });
});
