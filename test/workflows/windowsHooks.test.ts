// Operators' hooks in the Windows workflow, with fake activities on the dev server: each point runs where the input
// says (afterInstall before the extra administrator, beforeCloudbaseInit before cloudbase-init, beforeSysprep before
// the pre-sysprep checks and the snapshot) and its runs are in the result; an unknown hook fails the build before
// anything is created; a failing hook fails it typed and the build cleans up.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { rootFailure } from '../helpers/builds.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { fakeWorld, type FakeWorld } from './fakes.js';

const SHA = '0'.repeat(64);

function input(world: FakeWorld, hooks: WindowsImageInput['hooks']): WindowsImageInput {
  return {
    pool: world.pool,
    installIso: 'install.iso',
    administrator: { name: 'builder', password: { secret: 'builder-admin' } },
    pvTools: { path: '/srv/tools.msi', sha256: SHA },
    cloudbaseInit: { path: '/srv/cbi.msi', sha256: SHA },
    image: { name: 'fake-windows' },
    cloud: 'fake-cloud',
    hooks,
  };
}

describe('windowsImage hooks (fake activities)', () => {
  let target: TemporalTarget;
  let client: Client;

  before(async () => {
    target = await testTemporal();
    client = await testClient(target);
  });

  const start = (world: FakeWorld, i: WindowsImageInput) =>
    client.workflow.start('windowsImage', {
      taskQueue: world.taskQueue,
      workflowId: `hooks-${randomUUID().slice(0, 8)}`,
      args: [i],
    });

  test('each point runs in its place, with the build secrets to scrub; the runs are in the result', async () => {
    const world = await fakeWorld(target);
    const handle = await start(
      world,
      input(world, { afterInstall: ['join-domain'], beforeCloudbaseInit: ['fonts'], beforeSysprep: ['tidy', 'last'] }),
    );
    const result = (await handle.result()) as { hooks: Array<{ point: string; name: string }> };
    assert.deepEqual(
      result.hooks.map((h) => `${h.point}:${h.name}`),
      ['afterInstall:join-domain', 'beforeCloudbaseInit:fonts', 'beforeSysprep:tidy', 'beforeSysprep:last'],
    );
    const runs = world.called('runHooks') as Array<{ point: string; names: string[]; scrub: unknown[] }>;
    assert.deepEqual(
      runs.map((r) => [r.point, r.names]),
      [
        ['afterInstall', ['join-domain']],
        ['beforeCloudbaseInit', ['fonts']],
        ['beforeSysprep', ['tidy', 'last']],
      ],
    );
    assert.deepEqual(runs[0]!.scrub, [{ secret: 'builder-admin' }]);
    const order = world.calls.map((c) => c.name);
    const at = (point: string) =>
      world.calls.findIndex((c) => c.name === 'runHooks' && (c.input as { point: string }).point === point);
    assert.ok(order.indexOf('checkHooks') < order.indexOf('prepareAnswerMedia'), 'checked before anything is made');
    assert.ok(at('afterInstall') < order.indexOf('addAdministrator'));
    assert.ok(order.indexOf('addAdministrator') < at('beforeCloudbaseInit'));
    assert.ok(at('beforeCloudbaseInit') < order.indexOf('installCloudbaseInit'));
    assert.ok(at('beforeSysprep') < order.indexOf('preSysprepChecks'));
    assert.ok(order.indexOf('preSysprepChecks') < order.indexOf('snapshot'));
  });

  test('an unknown hook fails the build before anything is created (HookMissing)', async () => {
    const world = await fakeWorld(target, {
      checkHooks: async () => {
        throw ApplicationFailure.nonRetryable('hook "nope" does not exist', 'HookMissing');
      },
    });
    const handle = await start(world, input(world, { beforeSysprep: ['nope'] }));
    await assert.rejects(handle.result(), (err: unknown) => rootFailure(err)?.type === 'HookMissing');
    for (const maker of ['prepareAnswerMedia', 'createVm', 'runHooks'] as const)
      assert.deepEqual(world.called(maker), [], `${maker} never ran`);
  });

  test('a failing hook fails the build typed, with its last lines, and the build cleans up', async () => {
    const world = await fakeWorld(target, {
      runHooks: async () => {
        throw ApplicationFailure.create({
          type: 'HookFailed',
          message: 'hook "tidy" (beforeSysprep) failed with exit code 3; last lines: disk full',
          nonRetryable: true,
        });
      },
    });
    const handle = await start(world, input(world, { beforeSysprep: ['tidy'] }));
    await assert.rejects(handle.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.equal(failure?.type, 'HookFailed');
      assert.match(failure.message, /last lines: disk full/);
      return true;
    });
    assert.deepEqual(world.called('runSysprep'), [], 'no sysprep after a failed hook');
    assert.equal(world.called('cleanupByTag').length, 1, 'the build cleaned up');
  });
});
