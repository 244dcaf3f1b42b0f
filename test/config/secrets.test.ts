import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { resolveSecret, SecretMissingError } from '../../src/secrets.js';
import { tempDir } from '../helpers/tmp.js';

test('a secret resolves from XENIMAGE_SECRETS_DIR/NAME, trailing newline removed', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'xapi-root'), 'from-file-1\n');
  const value = await resolveSecret({ secret: 'xapi-root' }, { dir, env: {} });
  assert.equal(value, 'from-file-1');
});

test('a secret resolves from XENIMAGE_SECRET_NAME when no file holds it', async (t) => {
  const dir = await tempDir(t);
  const value = await resolveSecret(
    { secret: 'keystone.admin-pw' },
    { dir, env: { XENIMAGE_SECRET_KEYSTONE_ADMIN_PW: 'env-2' } },
  );
  assert.equal(value, 'env-2');
});

test('a missing secret is a typed, non-retryable error that names it and where it was looked for', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(resolveSecret({ secret: 'nope' }, { dir, env: {} }), (err: unknown) => {
    assert.ok(err instanceof SecretMissingError);
    assert.equal(err.type, 'SecretMissing');
    assert.equal(err.retryable, false);
    assert.match(err.message, /"nope"/);
    assert.match(err.message, /XENIMAGE_SECRET_NOPE/);
    assert.ok(err.message.includes(path.join(dir, 'nope')));
    return true;
  });
});

test('a malformed reference is refused before any lookup', async () => {
  await assert.rejects(resolveSecret({ secret: '../etc/passwd' }, { env: {} }), /secret names use letters/);
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
  const value = await resolveSecret({ secret: 'admin' }, { dir, env: {} });
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
