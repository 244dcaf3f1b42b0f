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

test('secrets: the folder, the build key and the scopes by purpose, with defaults; bad patterns are refused by name', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.secrets.dir, undefined, 'default: <stateDir>/secrets');
  assert.equal(defaults.secrets.buildKey, 'xenimage-build-key');
  assert.deepEqual(defaults.secrets.scopes, {
    pool: ['xapi-*'],
    cloud: ['cloud-*', 'keystone-*', 'openstack-*'],
    buildInput: ['*'],
  });
  const set = loadConfig({ XENIMAGE_SECRETS_DIR: '/etc/xenimage/secrets', XENIMAGE_BUILD_KEY: 'site-build-key' });
  assert.equal(set.secrets.dir, '/etc/xenimage/secrets');
  assert.equal(set.secrets.buildKey, 'site-build-key');
  assert.throws(
    () => loadConfig({ XENIMAGE_BUILD_KEY: '../key' }),
    (err: unknown) =>
      err instanceof InvalidInputError && /secrets\.buildKey \(from \$XENIMAGE_BUILD_KEY\)/.test(err.message),
  );
});

test('secret scopes from the config file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'xenimage.yaml');
  await writeFile(file, 'secrets:\n  scopes:\n    buildInput: ["input-*"]\n    pool: ["pool/*"]\n');
  assert.throws(() => loadConfig({ XENIMAGE_CONFIG: file }), /secrets\.scopes\.pool\.0/);
  await writeFile(file, 'secrets:\n  scopes:\n    buildInput: ["input-*"]\n');
  const config = loadConfig({ XENIMAGE_CONFIG: file });
  assert.deepEqual(config.secrets.scopes.buildInput, ['input-*']);
  assert.deepEqual(config.secrets.scopes.pool, ['xapi-*'], 'unset purposes keep their defaults');
});
