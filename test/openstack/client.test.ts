// The client against the real Keystone + Glance of the lab: token, catalog, image create / chunked and
// Content-Length uploads / download / delete, error types, application credentials, and the same cloud through
// the openstack CLI with the written clouds.yaml.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError } from '../../src/errors.js';
import {
  connectCloud,
  GlanceError,
  KeystoneError,
  loadCloud,
  openCloud,
  OpenStackUnreachableError,
} from '../../src/openstack/index.js';
import { identityV3Url } from '../../src/openstack/keystone.js';
import { startTestLab, type TestLab } from './support/lab.js';

const run = promisify(execFile);
let t0: TestLab;

before(async () => {
  t0 = await startTestLab();
});
after(async () => {
  await t0?.close();
});

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

test('Keystone issues a project-scoped token and the catalog points at the lab Glance', async () => {
  const cloud = t0.cloud();
  const token = await cloud.session.token();
  assert.match(token, /^gAAAAA/); // a fernet token, taken from X-Subject-Token
  assert.ok(cloud.session.expiresAt! > Date.now() + 30 * 60_000, 'default tokens live an hour');
  assert.equal(await cloud.session.token(), token, 'a valid token is reused');
  assert.match(await cloud.session.projectId(), /^[0-9a-f]{32}$/);
  assert.equal(await cloud.glance.endpoint(), t0.lab.glanceUrl);
  // The identity endpoint the lab registered answers with this token.
  const res = await fetch(`${identityV3Url(t0.lab.keystoneUrl)}/auth/projects`, { headers: { 'x-auth-token': token } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { projects: { name: string }[] };
  assert.deepEqual(
    body.projects.map((p) => p.name),
    ['xenimage'],
  );
});

test('wrong password: typed, non-retryable, and the password is in no message', async () => {
  const cfg = loadCloud(t0.lab.cloud, { file: t0.lab.cloudsFile, env: {} });
  assert.equal(cfg.auth.type, 'password');
  const wrong = 'not-the-password-' + randomBytes(6).toString('hex');
  const bad = { ...cfg, auth: { ...cfg.auth, password: wrong } } as typeof cfg;
  const { openCloud } = await import('../../src/openstack/index.js');
  const cloud = openCloud(bad);
  try {
    const err = await cloud.session.token().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KeystoneError);
    assert.equal(err.type, 'KeystoneAuthFailed');
    assert.equal(err.retryable, false);
    assert.ok(!JSON.stringify({ m: err.message, d: err.details }).includes(wrong));
  } finally {
    await cloud.close();
  }
});

test('create, chunked upload of a few MB, download, delete', async () => {
  const cloud = t0.cloud();
  const data = randomBytes(3 * 1024 * 1024 + 123);
  const image = await cloud.glance.createImage({
    name: 'client-test',
    container_format: 'ovf',
    disk_format: 'vhd',
    visibility: 'private',
    min_disk: 2,
    min_ram: 512,
    tags: ['client-test'],
    properties: { vm_mode: 'hvm', xenapi_device_id: '0002' },
  });
  assert.equal(image.status, 'queued');
  assert.equal(image.vm_mode, 'hvm');
  assert.equal(image.xenapi_device_id, '0002');
  assert.equal(image.min_disk, 2);
  // A plain Readable of 64 KiB chunks: undici sends it with Transfer-Encoding: chunked.
  async function* chunks() {
    for (let off = 0; off < data.length; off += 65536) yield data.subarray(off, off + 65536);
  }
  await cloud.glance.uploadImageData(image.id, Readable.from(chunks()));
  const got = await cloud.glance.getImage(image.id);
  assert.equal(got.status, 'active');
  assert.equal(got.size, data.length);
  assert.equal(got.checksum, createHash('md5').update(data).digest('hex'));
  assert.equal(got.os_hash_algo, 'sha512');
  assert.equal(got.os_hash_value, createHash('sha512').update(data).digest('hex'));
  const listed = await cloud.glance.listImages({ tag: 'client-test' });
  assert.deepEqual(
    listed.map((i) => i.id),
    [image.id],
  );

  const back = await readAll(await cloud.glance.downloadImageData(image.id));
  assert.ok(back.equals(data), 'downloaded bytes equal the uploaded ones');

  assert.equal(await cloud.glance.deleteImage(image.id), true);
  assert.equal(await cloud.glance.deleteImage(image.id), false, 'a second delete finds nothing: fine');
  const gone = await cloud.glance.getImage(image.id).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(gone instanceof GlanceError);
  assert.equal(gone.type, 'GlanceImageNotFound');
  assert.equal(gone.retryable, false);
});

test('upload with Content-Length instead of chunked transfer', async () => {
  const cloud = t0.cloud();
  const data = randomBytes(1024 * 1024);
  const image = await cloud.glance.createImage({ name: 'content-length', container_format: 'ovf', disk_format: 'vhd' });
  try {
    await cloud.glance.uploadImageData(image.id, Readable.from([data.subarray(0, 500_000), data.subarray(500_000)]), {
      contentLength: data.length,
    });
    const got = await cloud.glance.getImage(image.id);
    assert.equal(got.size, data.length);
    assert.equal(got.checksum, createHash('md5').update(data).digest('hex'));
  } finally {
    await cloud.glance.deleteImage(image.id);
  }
});

test('refusals are typed: a non-string property before the request, an unknown disk format (400), an upload to an active image (409)', async () => {
  const cloud = t0.cloud();
  const before = (await cloud.glance.listImages({})).length;
  const notString = await cloud.glance
    .createImage({
      name: 'bad',
      container_format: 'ovf',
      disk_format: 'vhd',
      properties: { os_type: 7 as unknown as string },
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(notString instanceof InvalidInputError);
  assert.match(notString.message, /"os_type" must be a string, not number/);
  assert.equal((await cloud.glance.listImages({})).length, before, 'nothing was created');

  const refused = await cloud.glance.createImage({ name: 'bad', container_format: 'ovf', disk_format: 'floppy' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(refused instanceof GlanceError);
  assert.equal(refused.type, 'GlanceBadRequest');
  assert.equal(refused.retryable, false);
  assert.match(refused.message, /HTTP 400/);

  const image = await cloud.glance.createImage({ name: 'twice', container_format: 'ovf', disk_format: 'vhd' });
  try {
    await cloud.glance.uploadImageData(image.id, Readable.from([Buffer.from('first')]));
    const again = await cloud.glance.uploadImageData(image.id, Readable.from([Buffer.from('second')])).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(again instanceof GlanceError);
    assert.equal(again.type, 'GlanceConflict');
    assert.equal(again.retryable, false);
  } finally {
    await cloud.glance.deleteImage(image.id);
  }
});

test('an abort signal stops a download', async () => {
  const cloud = t0.cloud();
  const image = await cloud.glance.createImage({ name: 'abort-download', container_format: 'ovf', disk_format: 'vhd' });
  try {
    await cloud.glance.uploadImageData(image.id, Readable.from([randomBytes(2 * 1024 * 1024)]));
    const ac = new AbortController();
    const stream = await cloud.glance.downloadImageData(image.id, ac.signal);
    ac.abort();
    await assert.rejects(readAll(stream), (e: Error) => e.name === 'AbortError');
  } finally {
    await cloud.glance.deleteImage(image.id);
  }
});

test('application credential: created in the lab Keystone, authenticates without a scope and lists images', async () => {
  const cloud = t0.cloud();
  const userId = await cloud.session.userId();
  const res = await fetch(`${identityV3Url(t0.lab.keystoneUrl)}/users/${userId}/application_credentials`, {
    method: 'POST',
    headers: { 'x-auth-token': await cloud.session.token(), 'content-type': 'application/json' },
    body: JSON.stringify({ application_credential: { name: 'xenimage-test' } }),
  });
  assert.equal(res.status, 201);
  const cred = ((await res.json()) as { application_credential: { id: string; secret: string } })
    .application_credential;

  const file = path.join(t0.stateDir, 'appcred-clouds.yaml');
  const labClouds = parseYaml(await readFile(t0.lab.cloudsFile, 'utf8')) as {
    clouds: Record<string, { auth: { auth_url: string } }>;
  };
  await writeFile(
    file,
    [
      'clouds:',
      '  appcred:',
      '    auth_type: v3applicationcredential',
      '    auth:',
      `      auth_url: ${labClouds.clouds[t0.lab.cloud]!.auth.auth_url}`,
      `      application_credential_id: ${cred.id}`,
      `      application_credential_secret: ${cred.secret}`,
      '    region_name: RegionOne',
      '    allow_http: true',
      '',
    ].join('\n'),
  );
  const app = connectCloud(undefined, { env: { OS_CLOUD: 'appcred', OS_CLIENT_CONFIG_FILE: file } });
  try {
    assert.equal(app.config.auth.type, 'v3applicationcredential');
    assert.equal(
      await app.session.projectId(),
      await cloud.session.projectId(),
      'the credential is scoped to its project',
    );
    assert.ok(Array.isArray(await app.glance.listImages({})));
  } finally {
    await app.close();
  }
  // And a wrong secret is refused, without the secret in the message.
  const wrongSecret = 'wrong-' + randomBytes(8).toString('hex');
  await writeFile(file, (await readFile(file, 'utf8')).replace(cred.secret, wrongSecret));
  const bad = connectCloud('appcred', { file, env: {} });
  try {
    const err = await bad.session.token().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KeystoneError && err.type === 'KeystoneAuthFailed');
    assert.ok(!err.message.includes(wrongSecret));
  } finally {
    await bad.close();
  }
});

test('the written clouds.yaml works as is with `openstack --os-cloud xenimage-lab image list`', async () => {
  const cloud = t0.cloud();
  const image = await cloud.glance.createImage({ name: 'seen-by-cli', container_format: 'ovf', disk_format: 'vhd' });
  try {
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/bin:/bin',
      HOME: t0.stateDir,
      OS_CLIENT_CONFIG_FILE: t0.lab.cloudsFile,
    };
    const { stdout } = await run('/usr/bin/openstack', ['--os-cloud', t0.lab.cloud, 'image', 'list', '-f', 'json'], {
      env,
    });
    const rows = JSON.parse(stdout) as { ID: string; Name: string; Status: string }[];
    assert.deepEqual(
      rows.filter((r) => r.ID === image.id).map((r) => [r.Name, r.Status]),
      [['seen-by-cli', 'queued']],
    );
  } finally {
    await cloud.glance.deleteImage(image.id);
  }
});

test('a Glance that never answers is a retryable GlanceTimeout; one that is not there is OpenStackUnreachable', async (t) => {
  // A server that accepts connections and never answers, and a port nobody listens on, registered in Keystone
  // as the image endpoints of two more regions.
  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  t.after(() => {
    for (const socket of held) socket.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  const admin = t0.admin();
  const keystone = identityV3Url(t0.lab.keystoneUrl);
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${keystone}${p}`, {
      method,
      headers: { 'x-auth-token': await admin.session.token(), 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.ok(res.status < 300, `${method} ${p}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const service = ((await call('GET', '/services?type=image')).services as { id: string }[])[0]!.id;
  const regions = {
    SilentRegion: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
    ClosedRegion: `http://127.0.0.1:${closedPort}`,
  };
  for (const [region, url] of Object.entries(regions)) {
    await call('POST', '/regions', { region: { id: region } });
    await call('POST', '/endpoints', {
      endpoint: { service_id: service, interface: 'public', region_id: region, url },
    });
  }
  const base = loadCloud(t0.lab.cloud, { file: t0.lab.cloudsFile, env: {} });

  const slow = openCloud({ ...base, regionName: 'SilentRegion' }, { requestTimeoutMs: 500 });
  t.after(() => slow.close());
  const timedOut = await slow.glance.listImages({}).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(timedOut instanceof GlanceError, String(timedOut));
  assert.equal(timedOut.type, 'GlanceTimeout');
  assert.equal(timedOut.retryable, true);

  const gone = openCloud({ ...base, regionName: 'ClosedRegion' });
  t.after(() => gone.close());
  const refused = await gone.glance.getImage('00000000-0000-0000-0000-000000000000').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(refused instanceof OpenStackUnreachableError, String(refused));
  assert.equal(refused.retryable, true);
  assert.match(refused.message, /ECONNREFUSED/);

  // The caller's own abort stays an abort (not a timeout).
  const ac = new AbortController();
  const pending = slow.glance.listImages({}, ac.signal);
  ac.abort();
  await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
});
