// Bad input creates nothing and says why, typed and non-retryable; a build cancelled at any step cleans up
// everything it made.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import {
  assertNothingLeft,
  identityOf,
  labConnection,
  rootFailure,
  waitForProgress,
  windowsInput,
} from '../helpers/builds.js';

describe('windowsImage failures', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;
  let good: WindowsImageInput;

  before(async () => {
    lab = await startBuildLab();
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
    good = await windowsInput(lab, 'win-bad');
  });

  const badInputs: Array<[string, (i: WindowsImageInput) => unknown, string, RegExp]> = [
    ['missing pool', ({ pool: _p, ...rest }) => rest, 'InvalidInput', /pool/],
    ['unknown field', (i) => ({ ...i, colour: 'blue' }), 'InvalidInput', /colour/],
    [
      'the extra account is the built-in Administrator',
      (i) => ({ ...i, administrator: { ...i.administrator, name: 'Administrator' } }),
      'InvalidInput',
      /administrator\.name/,
    ],
    [
      'a user name cmd.exe would interpret',
      (i) => ({ ...i, administrator: { ...i.administrator, name: 'a&b' } }),
      'InvalidInput',
      /administrator\.name/,
    ],
    [
      'a password in clear instead of a reference',
      (i) => ({ ...i, administrator: { ...i.administrator, password: 'hunter2' } }),
      'InvalidInput',
      /administrator\.password/,
    ],
    [
      'an installer without a SHA-256',
      (i) => ({ ...i, pvTools: { path: '/tmp/tools.msi' } }),
      'InvalidInput',
      /pvTools/,
    ],
    [
      'image index and name together',
      (i) => ({ ...i, windows: { imageIndex: 2, imageName: 'x' } }),
      'InvalidInput',
      /imageIndex or imageName/,
    ],
    ['a disk too small for Windows', (i) => ({ ...i, vm: { diskGiB: 4 } }), 'InvalidInput', /vm\.diskGiB/],
    [
      'an unknown pool',
      (i) => ({ ...i, pool: 'no-such-pool', tuning: { ...i.tuning, poolWorkerTimeout: '3s' } }),
      'UnknownPool',
      /no-such-pool/,
    ],
    ['an unknown SR', (i) => ({ ...i, sr: 'No such SR' }), 'XapiNotFound', /No such SR/],
    ['an unknown network', (i) => ({ ...i, network: 'No such network' }), 'XapiNotFound', /No such network/],
    ['an unknown install ISO', (i) => ({ ...i, installIso: 'missing.iso' }), 'XapiNotFound', /missing\.iso/],
    [
      'a missing administrator password secret',
      (i) => ({ ...i, administrator: { ...i.administrator, password: { secret: 'nobody-wrote-this' } } }),
      'SecretMissing',
      /nobody-wrote-this/,
    ],
    [
      'a missing product key secret',
      (i) => ({ ...i, windows: { ...i.windows, productKey: { secret: 'no-product-key' } } }),
      'SecretMissing',
      /no-product-key/,
    ],
    ['an unknown cloud', (i) => ({ ...i, cloud: 'no-such-cloud' }), 'CloudNotFound', /no-such-cloud/],
    [
      "a product key naming the pool's XAPI password",
      (i) => ({ ...i, windows: { ...i.windows, productKey: { secret: lab.xapi.secretName } } }),
      'SecretOutOfScope',
      /pool credential/,
    ],
    [
      "an administrator password naming the cloud admin's",
      (i) => ({ ...i, administrator: { ...i.administrator, password: { secret: 'openstack-admin' } } }),
      'SecretOutOfScope',
      /cloud credential/,
    ],
    [
      'a product key naming the build key',
      (i) => ({ ...i, windows: { ...i.windows, productKey: { secret: 'xenimage-build-key' } } }),
      'SecretOutOfScope',
      /keeps it for itself/,
    ],
    [
      'an installer whose SHA-256 does not match',
      (i) => ({ ...i, pvTools: { ...lab.installers.pvTools, sha256: '0'.repeat(64) } }),
      'ArtifactChecksumMismatch',
      /SHA-256/i,
    ],
  ];

  for (const [what, mutate, type, message] of badInputs) {
    test(`bad input — ${what}: ${type}, nothing created`, async () => {
      const workflowId = `bad-${randomUUID().slice(0, 8)}`;
      const handle = await lab.client.workflow.start('windowsImage', {
        taskQueue: lab.taskQueue,
        workflowId,
        args: [mutate(good)],
      });
      await assert.rejects(handle.result(), (err: unknown) => {
        const failure = rootFailure(err);
        assert.ok(failure, `a typed failure, got ${String(err)}`);
        assert.equal(failure.type, type, failure.message);
        assert.equal(failure.nonRetryable, true);
        assert.match(failure.message, message);
        return true;
      });
      await assertNothingLeft(lab, conn, cloud, identityOf(handle));
      // Nothing that creates was even scheduled (the answer media step reads the installers before it makes anything).
      const history = JSON.stringify(await handle.fetchHistory());
      assert.ok(!history.includes('"createVm"'), 'createVm was not scheduled');
      if (type !== 'ArtifactChecksumMismatch')
        assert.ok(!history.includes('"prepareAnswerMedia"'), 'prepareAnswerMedia was not scheduled');
    });
  }

  const cancelAt: Array<[string, (p: BuildProgress) => boolean, () => void]> = [
    ['while Windows installs', (p) => p.step === 'install Windows', () => undefined],
    ['during cloudbase-init', (p) => p.step === 'cloudbase-init', () => undefined],
    // A slow export keeps the transfer running long enough to cancel it mid-way.
    [
      'during the export',
      (p) => p.step === 'export and upload',
      () => lab.xapi.faults.inject({ kind: 'slow', method: 'export_raw_vdi', delayMs: 8000, every: true, times: 3 }),
    ],
  ];

  for (const [when, reached, arrange] of cancelAt) {
    test(`cancelled ${when}: cleanup is complete`, async (t) => {
      t.after(() => lab.xapi.faults.clear());
      arrange();
      const workflowId = `cancel-${randomUUID().slice(0, 8)}`;
      const handle = await lab.client.workflow.start('windowsImage', {
        taskQueue: lab.taskQueue,
        workflowId,
        args: [await windowsInput(lab, 'win-cancel')],
      });
      await waitForProgress(handle, reached);
      await handle.cancel();
      await assert.rejects(
        handle.result(),
        (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure,
      );
      const progress = await handle.query<BuildProgress>('progress');
      assert.equal(progress.state, 'cancelled');
      await assertNothingLeft(lab, conn, cloud, identityOf(handle));
    });
  }
});
