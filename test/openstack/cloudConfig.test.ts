// clouds.yaml loading as openstacksdk does it (files, OS_CLOUD, OS_CLIENT_CONFIG_FILE, secure.yaml), typed
// errors that never carry a secret, and the URL/status rules the client applies.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  CloudConfigError,
  identityV3Url,
  isRetryableStatus,
  loadCloud,
  normaliseImageEndpoint,
} from '../../src/openstack/index.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 'S3cr3t-never-printed-9f2c';

const CLOUDS = `
clouds:
  lab:
    auth:
      auth_url: https://keystone.example:5000
      username: builder
      password: ${SECRET}
      project_name: images
      user_domain_name: Users
      project_domain_id: default
    region_name: RegionTwo
    interface: internal
    cacert: ca.pem
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example/identity/v3/
      application_credential_id: 0123abcd
      application_credential_secret: ${SECRET}
    verify: false
  nopass:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: builder
      project_name: images
`;

async function cloudsDir(t: Parameters<typeof tempDir>[0], text = CLOUDS): Promise<{ dir: string; file: string }> {
  const dir = await tempDir(t);
  const file = path.join(dir, 'clouds.yaml');
  await writeFile(file, text);
  return { dir, file };
}

function thrown(fn: () => unknown): CloudConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CloudConfigError, `expected CloudConfigError, got ${String(err)}`);
    assert.equal(err.retryable, false);
    assert.ok(!err.message.includes(SECRET) && !JSON.stringify(err.details).includes(SECRET), 'no secret in the error');
    return err;
  }
  assert.fail('expected an error');
}

test('a password cloud by name from an explicit file', async (t) => {
  const { file, dir } = await cloudsDir(t);
  const cloud = loadCloud('lab', { file, env: {} });
  assert.equal(cloud.name, 'lab');
  assert.equal(cloud.file, file);
  assert.deepEqual(cloud.auth, {
    type: 'password',
    authUrl: 'https://keystone.example:5000',
    user: { name: 'builder', domain: { name: 'Users' } },
    password: SECRET,
    project: { name: 'images', domain: { id: 'default' } },
  });
  assert.equal(cloud.regionName, 'RegionTwo');
  assert.equal(cloud.interface, 'internal');
  assert.equal(cloud.verify, true);
  assert.equal(cloud.cacert, path.join(dir, 'ca.pem'), 'cacert is relative to clouds.yaml');
});

test('OS_CLOUD and OS_CLIENT_CONFIG_FILE choose the cloud and the file', async (t) => {
  const { file } = await cloudsDir(t);
  const elsewhere = await tempDir(t); // ./clouds.yaml is not there
  const cloud = loadCloud(undefined, { env: { OS_CLOUD: 'appcred', OS_CLIENT_CONFIG_FILE: file }, cwd: elsewhere });
  assert.equal(cloud.name, 'appcred');
  assert.deepEqual(cloud.auth, {
    type: 'v3applicationcredential',
    authUrl: 'https://keystone.example/identity/v3/',
    credential: { id: '0123abcd' },
    secret: SECRET,
  });
  assert.equal(cloud.verify, false);
  assert.equal(cloud.interface, 'public', 'interface defaults to public');
  assert.equal(cloud.regionName, undefined);
});

test('./clouds.yaml is found in the working directory; a single cloud needs no name', async (t) => {
  const one =
    'clouds:\n  only:\n    auth:\n      auth_url: https://k:5000\n      user_id: u1\n      password: p4ssw0rd\n      project_id: p1\n';
  const { dir } = await cloudsDir(t, one);
  const cloud = loadCloud(undefined, { env: {}, cwd: dir });
  assert.equal(cloud.name, 'only');
  assert.deepEqual(cloud.auth, {
    type: 'password',
    authUrl: 'https://k:5000',
    user: { id: 'u1' },
    password: 'p4ssw0rd',
    project: { id: 'p1' },
  });
});

test('secure.yaml is merged over clouds.yaml', async (t) => {
  const { file, dir } = await cloudsDir(t);
  const secure = path.join(dir, 'secure.yaml');
  await writeFile(secure, `clouds:\n  nopass:\n    auth:\n      password: ${SECRET}\n`);
  const cloud = loadCloud('nopass', { file, env: { OS_CLIENT_SECURE_FILE: secure } });
  assert.equal(cloud.auth.type, 'password');
  assert.equal(cloud.auth.type === 'password' && cloud.auth.password, SECRET);
  assert.equal(
    cloud.auth.type === 'password' && JSON.stringify(cloud.auth.user),
    JSON.stringify({ name: 'builder', domain: { id: 'default' } }),
  );
});

test('a missing cloud is a typed error naming it and the clouds that exist', async (t) => {
  const { file } = await cloudsDir(t);
  const err = thrown(() => loadCloud(undefined, { env: { OS_CLOUD: 'prod', OS_CLIENT_CONFIG_FILE: file } }));
  assert.equal(err.type, 'CloudNotFound');
  assert.match(err.message, /cloud "prod" is not in .*clouds\.yaml \(it has: lab, appcred, nopass\)/);
  const several = thrown(() => loadCloud(undefined, { file, env: {} }));
  assert.match(several.message, /several clouds/);
  const nowhere = await tempDir(t);
  const none = thrown(() =>
    loadCloud('x', { env: { OS_CLIENT_CONFIG_FILE: path.join(nowhere, 'absent.yaml') }, cwd: nowhere }),
  );
  assert.equal(none.type, 'CloudNotFound');
});

test('missing or unsupported fields name the field, never a secret', async (t) => {
  const { file } = await cloudsDir(t);
  const noPassword = thrown(() => loadCloud('nopass', { file, env: {} }));
  assert.equal(noPassword.type, 'CloudConfigInvalid');
  assert.match(noPassword.message, /auth\.password is required/);

  const { file: f2 } = await cloudsDir(
    t,
    `clouds:\n  c:\n    auth:\n      username: u\n      password: ${SECRET}\n      project_name: p\n`,
  );
  assert.match(thrown(() => loadCloud('c', { file: f2, env: {} })).message, /auth\.auth_url is required/);

  const { file: f3 } = await cloudsDir(
    t,
    `clouds:\n  c:\n    auth_type: token\n    auth:\n      auth_url: https://k\n      token: ${SECRET}\n`,
  );
  assert.match(thrown(() => loadCloud('c', { file: f3, env: {} })).message, /auth_type "token" is not supported/);

  const { file: f4 } = await cloudsDir(t, `clouds:\n  c:\n    auth:\n      password: ${SECRET}\n     bad: [indent\n`);
  assert.match(thrown(() => loadCloud('c', { file: f4, env: {} })).message, /not valid YAML/);

  const { file: f5 } = await cloudsDir(
    t,
    `clouds:\n  c:\n    interface: private\n    auth:\n      auth_url: https://k\n      username: u\n      password: ${SECRET}\n      project_name: p\n`,
  );
  assert.match(
    thrown(() => loadCloud('c', { file: f5, env: {} })).message,
    /interface must be public, internal or admin/,
  );
});

test('URL rules: identity /v3 and the image endpoint normalisation of the reference', () => {
  assert.equal(identityV3Url('https://k:5000'), 'https://k:5000/v3');
  assert.equal(identityV3Url('https://k:5000/v3/'), 'https://k:5000/v3');
  assert.equal(identityV3Url('https://k/identity'), 'https://k/identity/v3');
  assert.equal(normaliseImageEndpoint('http://g:9292'), 'http://g:9292');
  assert.equal(normaliseImageEndpoint('http://g:9292/'), 'http://g:9292');
  assert.equal(normaliseImageEndpoint('http://g:9292/v2/'), 'http://g:9292');
  assert.equal(normaliseImageEndpoint('https://cloud/image'), 'https://cloud/image');
  assert.equal(normaliseImageEndpoint('https://cloud/image/v2'), 'https://cloud/image');
});

test('status classification: 4xx permanent except 408; 501/505/510 permanent; other 5xx retry', () => {
  for (const s of [400, 401, 403, 404, 409, 410, 411, 413, 415]) assert.equal(isRetryableStatus(s), false, String(s));
  for (const s of [408, 500, 502, 503, 504, 507]) assert.equal(isRetryableStatus(s), true, String(s));
  for (const s of [501, 505, 510]) assert.equal(isRetryableStatus(s), false, String(s));
});
