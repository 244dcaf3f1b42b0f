import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { InvalidInputError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

test('defaults apply when nothing is set', () => {
  const config = loadConfig({});
  assert.equal(config.stateDir, '.xenimage');
  assert.equal(config.temporal.namespace, 'default');
  assert.equal(config.temporal.taskQueue, 'xenimage');
  assert.equal(config.temporal.address, undefined);
  assert.equal(config.openstack.cloud, 'xenimage-lab');
  assert.equal(config.worker.shutdownGraceTime, '5m');
});

test('environment overrides the file, the file overrides defaults', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'xenimage.yaml');
  await writeFile(
    file,
    'temporal:\n  namespace: from-file\n  taskQueue: q-file\nworker:\n  maxConcurrentActivities: 4\n',
  );
  const config = loadConfig({
    XENIMAGE_CONFIG: file,
    TEMPORAL_NAMESPACE: 'from-env',
    TEMPORAL_ADDRESS: 'temporal.example:7233',
  });
  assert.equal(config.temporal.namespace, 'from-env');
  assert.equal(config.temporal.taskQueue, 'q-file');
  assert.equal(config.temporal.address, 'temporal.example:7233');
  assert.equal(config.worker.maxConcurrentActivities, 4);
});

test('a bad value is a typed error naming the field and the variable that set it', () => {
  assert.throws(
    () => loadConfig({ TEMPORAL_ADDRESS: 'no-port-here', XENIMAGE_SHUTDOWN_GRACE: 'forever' }),
    (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /temporal\.address \(from \$TEMPORAL_ADDRESS\): host:port/);
      assert.match(err.message, /worker\.shutdownGraceTime \(from \$XENIMAGE_SHUTDOWN_GRACE\)/);
      return true;
    },
  );
});

test('an unknown key in the file is refused by name', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ temporal: { namespcae: 'typo' } }));
  assert.throws(() => loadConfig({ XENIMAGE_CONFIG: file }), /temporal.*namespcae|namespcae/);
});
