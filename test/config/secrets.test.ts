// The one resolver of secrets: where configured secrets come from (the folder, then the variables), the scopes that
// say which purpose may use which name, and the derivation of a build's generated secrets from the build key.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ConfigSchema, loadConfig } from '../../src/config.js';
import { secretEnvName } from '../../src/contracts/secretRef.js';
import { createLogger } from '../../src/log.js';
import {
  ensureBuildKey,
  SecretMissingError,
  SecretOutOfScopeError,
  SecretResolver,
  secretResolverFor,
} from '../../src/secrets.js';
import { tempDir } from '../helpers/tmp.js';

test('a secret resolves from <secrets dir>/NAME, trailing newline removed', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'xapi-root'), 'from-file-1\n');
  const value = await new SecretResolver({ dir, env: {} }).resolve({ secret: 'xapi-root' }, 'pool');
  assert.equal(value, 'from-file-1');
});

test('a secret resolves from XENIMAGE_SECRET_NAME when no file holds it', async (t) => {
  const dir = await tempDir(t);
  const secrets = new SecretResolver({ dir, env: { XENIMAGE_SECRET_KEYSTONE_ADMIN_PW: 'env-2' } });
  assert.equal(await secrets.resolve({ secret: 'keystone-admin.pw' }, 'cloud'), 'env-2');
});

test('one default location for every activity and command: <stateDir>/secrets, else XENIMAGE_SECRETS_DIR', async (t) => {
  const state = await tempDir(t);
  assert.equal(secretResolverFor(loadConfig({ XENIMAGE_STATE_DIR: state })).dir, path.join(state, 'secrets'));
  const other = await tempDir(t);
  assert.equal(secretResolverFor(loadConfig({ XENIMAGE_STATE_DIR: state, XENIMAGE_SECRETS_DIR: other })).dir, other);
});

test('a missing secret is a typed, non-retryable error that names it and where it was looked for', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(new SecretResolver({ dir, env: {} }).resolve({ secret: 'nope' }, 'build-input'), (err) => {
    assert.ok(err instanceof SecretMissingError);
    assert.equal(err.type, 'SecretMissing');
    assert.equal(err.retryable, false);
    assert.match(err.message, /"nope"/);
    assert.match(err.message, /XENIMAGE_SECRET_NOPE/);
    assert.ok(err.message.includes(path.join(dir, 'nope')));
    return true;
  });
});

test('a malformed reference is refused before any lookup', async (t) => {
  // Both lookups would find a value: the file the name reaches out of the folder, and its variable.
  const root = await tempDir(t);
  const dir = path.join(root, 'secrets');
  await mkdir(dir);
  await mkdir(path.join(root, 'etc'));
  await writeFile(path.join(root, 'etc', 'passwd'), 'outside the secrets folder');
  const env = { [secretEnvName('../etc/passwd')]: 'from the environment' };
  await assert.rejects(
    new SecretResolver({ dir, env }).resolve({ secret: '../etc/passwd' }, 'build-input'),
    /secret names use letters/,
  );
});

test('scopes: a build input never names a pool credential, a cloud credential, the build key or a claimed name', async (t) => {
  const dir = await tempDir(t);
  for (const name of ['xapi-prod', 'openstack-admin', 'xenimage-build-key', 'root-pw', 'windows-admin'])
    await writeFile(path.join(dir, name), `value of ${name}`);
  const secrets = new SecretResolver({
    dir,
    env: {},
    // The pools file names root-pw as a pool's password.
    claimed: async () => [{ name: 'root-pw', purpose: 'pool' }],
  });
  assert.equal(await secrets.resolve({ secret: 'windows-admin' }, 'build-input'), 'value of windows-admin');
  for (const [name, why] of [
    ['xapi-prod', /pool credential/],
    ['openstack-admin', /cloud credential/],
    ['xenimage-build-key', /keeps it for itself/],
    ['root-pw', /pool credential/],
  ] as const) {
    await assert.rejects(secrets.resolve({ secret: name }, 'build-input'), (err) => {
      assert.ok(err instanceof SecretOutOfScopeError, String(err));
      assert.equal(err.type, 'SecretOutOfScope');
      assert.equal(err.retryable, false);
      assert.match(err.message, why);
      assert.ok(!err.message.includes('value of'), 'no value in the message');
      return true;
    });
  }
  // Each purpose only its own names.
  assert.equal(await secrets.resolve({ secret: 'xapi-prod' }, 'pool'), 'value of xapi-prod');
  await assert.rejects(secrets.resolve({ secret: 'windows-admin' }, 'pool'), SecretOutOfScopeError);
  await assert.rejects(secrets.resolve({ secret: 'xapi-prod' }, 'cloud'), SecretOutOfScopeError);
  await assert.rejects(secrets.resolve({ secret: 'xenimage-build-key' }, 'pool'), SecretOutOfScopeError);
  // check() refuses before reading anything else.
  await assert.rejects(
    secrets.check([{ secret: 'windows-admin' }, { secret: 'xapi-prod' }], 'build-input'),
    SecretOutOfScopeError,
  );
});

test('scopes come from the configuration: build inputs limited to a pattern', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'input-admin'), 'a');
  await writeFile(path.join(dir, 'stray'), 'b');
  const config = ConfigSchema.parse({
    secrets: { dir, scopes: { pool: ['pool-*'], cloud: ['cloud-*'], buildInput: ['input-*'] } },
  });
  const secrets = secretResolverFor(config, { env: {} });
  assert.equal(await secrets.resolve({ secret: 'input-admin' }, 'build-input'), 'a');
  await assert.rejects(secrets.resolve({ secret: 'stray' }, 'build-input'), /build inputs match input-\*/);
});

test('derived secrets: the same for the same build and key on any worker, different for another run, nothing written', async (t) => {
  const a = await tempDir(t);
  const b = await tempDir(t);
  assert.equal(await ensureBuildKey(a, undefined, {}), true);
  assert.equal(await ensureBuildKey(a, undefined, {}), false, 'an existing key is kept');
  const { readFile } = await import('node:fs/promises');
  // Another machine: its own folder, a copy of the configured key.
  await writeFile(path.join(b, 'xenimage-build-key'), await readFile(path.join(a, 'xenimage-build-key')));
  const first = new SecretResolver({ dir: a, env: {} });
  const second = new SecretResolver({ dir: b, env: {} });
  const ref = { generated: 'windows-admin' as const, build: 'win-1@3f1c0b2e-0000-4000-8000-000000000001' };
  const password = await first.derive(ref);
  assert.equal(await second.derive(ref), password, 'any worker with the key derives the same password');
  assert.notEqual(await first.derive({ ...ref, build: 'win-1@another-run' }), password, 'another run, another one');
  assert.equal(password.length, 24);
  for (const set of [/[A-Z]/, /[a-z]/, /[0-9]/, /[!#$*+\-=?@_]/]) assert.match(password, set);
  assert.doesNotMatch(password, /["'%^&<>|\s]/, 'cmd.exe-safe');
  assert.deepEqual((await readdir(a)).sort(), ['xenimage-build-key'], 'nothing written');
  await assert.rejects(new SecretResolver({ dir: await tempDir(t), env: {} }).derive(ref), SecretMissingError);
});

test('no secret value reaches a log line, by field name or by value', async (t) => {
  const dir = await tempDir(t);
  const secret = 'Sup3r-S3cret-Valu3!';
  await writeFile(path.join(dir, 'admin'), secret);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ destination: sink, level: 'debug', pretty: false });
  const value = await new SecretResolver({ dir, env: {} }).resolve({ secret: 'admin' }, 'build-input');
  logger.info({ password: value, nested: { auth: { token: 'tok-123456' } } }, 'by field name');
  logger.info({ command: `net user builder ${value} /add` }, 'by value in another field');
  logger.error(new Error(`failed with ${value}`), 'by value in an error');
  logger.info(`message text ${value}`);
  assert.equal(lines.length, 4);
  for (const line of lines) {
    assert.ok(!line.includes(secret), `secret leaked: ${line}`);
    assert.ok(!line.includes('tok-123456'), `token leaked: ${line}`);
  }
  assert.ok(lines.every((l) => l.includes('[REDACTED]')));
});
