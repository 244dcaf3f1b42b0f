// Transport rules for the OpenStack side (docs/decisions/openstack-0004-plain-http-endpoints.md): an http Keystone
// auth_url (or image_endpoint_override) is refused, typed and non-retryable, unless the cloud entry says
// allow_http: true, and then one warning per cloud; an https Keystone whose catalog hands out an http Glance is
// a downgrade and is refused the same way. `insecure: true` keeps its clouds.yaml meaning and does not allow http.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Response } from 'undici';
import { createLogger } from '../../src/log.js';
import {
  CloudConfigError,
  KeystoneSession,
  loadCloud,
  openCloud,
  type CloudConfig,
} from '../../src/openstack/index.js';
import type { Transport } from '../../src/openstack/transport.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 'Pl41n-http-never-printed-77ad';

function cloudsYaml(authUrl: string, extra = ''): string {
  return `clouds:\n  c:\n    auth:\n      auth_url: ${authUrl}\n      username: u\n      password: ${SECRET}\n      project_name: p\n${extra}`;
}

async function cloudsFile(t: Parameters<typeof tempDir>[0], text: string): Promise<string> {
  const file = path.join(await tempDir(t), 'clouds.yaml');
  await writeFile(file, text);
  return file;
}

function refusal(fn: () => unknown): CloudConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CloudConfigError, `expected CloudConfigError, got ${String(err)}`);
    assert.equal(err.type, 'CloudPlainHttpRefused');
    assert.equal(err.retryable, false);
    assert.match(err.message, /allow_http: true/);
    assert.ok(!err.message.includes(SECRET) && !JSON.stringify(err.details).includes(SECRET), 'no secret');
    return err;
  }
  assert.fail('expected the plain http endpoint to be refused');
}

test('an http auth_url is refused typed and non-retryable; insecure: true does not allow it', async (t) => {
  const plain = await cloudsFile(t, cloudsYaml('http://keystone.example:5000'));
  assert.equal(refusal(() => loadCloud('c', { file: plain, env: {} })).details?.field, 'auth.auth_url');
  const insecure = await cloudsFile(t, cloudsYaml('http://keystone.example:5000', '    insecure: true\n'));
  refusal(() => loadCloud('c', { file: insecure, env: {} }));
  const override = await cloudsFile(
    t,
    cloudsYaml('https://keystone.example', '    image_endpoint_override: http://glance.example:9292\n'),
  );
  assert.equal(refusal(() => loadCloud('c', { file: override, env: {} })).details?.field, 'image_endpoint_override');
  const https = await cloudsFile(t, cloudsYaml('https://keystone.example'));
  assert.equal(loadCloud('c', { file: https, env: {} }).allowHttp, undefined, 'https needs no opt-in');
  const wrongType = await cloudsFile(t, cloudsYaml('http://keystone.example:5000', '    allow_http: "yes"\n'));
  assert.throws(
    () => loadCloud('c', { file: wrongType, env: {} }),
    (e: unknown) => e instanceof CloudConfigError && e.type === 'CloudConfigInvalid' && /allow_http/.test(e.message),
  );
});

test('allow_http: true accepts an http cloud with one warning per cloud, without the password', async (t) => {
  const file = await cloudsFile(t, cloudsYaml('http://keystone.example:5000', '    allow_http: true\n'));
  const config = loadCloud('c', { file, env: {} });
  assert.equal(config.allowHttp, true);
  assert.equal(config.verify, true, 'allow_http says nothing about certificate checks');
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
  for (let i = 0; i < 3; i++) await openCloud(config, { log }).close();
  const warnings = lines.filter((l) => l.includes('plain http'));
  assert.equal(warnings.length, 1, lines.join(''));
  assert.equal(JSON.parse(warnings[0]!).level, 40, 'a warning');
  assert.ok(!lines.join('').includes(SECRET), 'no password in the log');
});

test('allow_http: true on loopback (a lab) opens without a warning: nothing leaves the host', async (t) => {
  const file = await cloudsFile(t, cloudsYaml('http://127.0.0.1:5000', '    allow_http: true\n'));
  const config = loadCloud('c', { file, env: {} });
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
  await openCloud(config, { log }).close();
  assert.deepEqual(
    lines.filter((l) => l.includes('plain http')),
    [],
  );
});

/** A Keystone that answers every token request with a catalog whose image endpoint is `glanceUrl`. */
function catalogTransport(glanceUrl: string): Transport {
  return {
    fetch: async () =>
      new Response(
        JSON.stringify({
          token: {
            expires_at: new Date(Date.now() + 3_600_000).toISOString(),
            project: { id: 'p1' },
            user: { id: 'u1' },
            catalog: [{ type: 'image', endpoints: [{ interface: 'public', region_id: 'R', url: glanceUrl }] }],
          },
        }),
        { status: 201, headers: { 'x-subject-token': 'tok-catalog-test', 'content-type': 'application/json' } },
      ),
    close: async () => {},
  };
}

function httpsCloud(allowHttp: boolean): CloudConfig {
  return {
    name: 'c',
    file: '(test)',
    auth: {
      type: 'password',
      authUrl: 'https://keystone.example',
      user: { name: 'u', domain: { id: 'default' } },
      password: SECRET,
      project: { name: 'p', domain: { id: 'default' } },
    },
    interface: 'public',
    verify: true,
    ...(allowHttp ? { allowHttp } : {}),
  };
}

test('an https Keystone whose catalog hands out an http Glance is a downgrade: refused unless allow_http', async () => {
  const refused = await new KeystoneSession(httpsCloud(false), catalogTransport('http://glance.example:9292'))
    .endpoint('image')
    .catch((e: unknown) => e);
  assert.ok(refused instanceof CloudConfigError, String(refused));
  assert.equal(refused.type, 'CloudPlainHttpRefused');
  assert.equal(refused.retryable, false);
  assert.ok(!refused.message.includes(SECRET) && !refused.message.includes('tok-catalog-test'), 'no secret');

  assert.equal(
    await new KeystoneSession(httpsCloud(false), catalogTransport('https://glance.example')).endpoint('image'),
    'https://glance.example',
  );
  assert.equal(
    await new KeystoneSession(httpsCloud(true), catalogTransport('http://glance.example:9292')).endpoint('image'),
    'http://glance.example:9292',
    'allowed when the entry opts in',
  );
});
