// createActivities(deps): the activities hold no state of their own. Two sets of deps in one process are two
// workers: each resolves its own secrets and reaches pools through its own connections, which close with the deps.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import { testDeps } from '../helpers/deps.js';
import { tempDir } from '../helpers/tmp.js';
import { beforeLabStops, startTestLab } from '../helpers/xapiLab.js';

const run = <R>(fn: () => Promise<R>) => new MockActivityEnvironment().run(fn) as Promise<R>;

test('two sets of deps are two workers: each resolves its own secrets, nothing is shared through the module', async (t) => {
  const [a, b] = [await tempDir(t), await tempDir(t)];
  await writeFile(path.join(a, 'only-in-a'), 'value a');
  const first = createActivities(testDeps({ stateDir: a, secretsDir: a }));
  const second = createActivities(testDeps({ stateDir: b, secretsDir: b }));
  assert.deepEqual(await run(() => first.checkSecrets({ refs: [{ secret: 'only-in-a' }] })), {
    checked: ['only-in-a'],
  });
  await assert.rejects(
    run(() => second.checkSecrets({ refs: [{ secret: 'only-in-a' }] })),
    (err: unknown) => err instanceof ApplicationFailure && err.type === 'SecretMissing' && err.nonRetryable,
  );
});

test('the pools a worker reaches are the ones its deps name; closing the deps closes their connections', async (t) => {
  const lab = await startTestLab(t);
  const deps = testDeps({ stateDir: await tempDir(t), poolsFile: lab.poolsFile, secretsDir: lab.secretsDir });
  beforeLabStops(lab, () => deps.close());
  const activities = createActivities(deps);
  const targets = await run(() => activities.validateTargets({ pool: lab.poolName }));
  assert.equal(targets.pool, lab.poolName);
  const conn = await deps.pools.get(lab.poolName);
  assert.equal(conn.isOpen, true);
  assert.equal(await deps.pools.get(lab.poolName), conn, 'one connection per pool for the worker');
  await deps.close();
  assert.equal(conn.isOpen, false);
  // Another worker, deps without the lab's pools file, does not know the pool.
  const stranger = createActivities(testDeps({ stateDir: await tempDir(t) }));
  await assert.rejects(
    run(() => stranger.validateTargets({ pool: lab.poolName })),
    (err: unknown) => err instanceof ApplicationFailure && err.type === 'InvalidInput' && /not in/.test(err.message),
  );
});
