// Tokens that expire or are revoked while xenimage works, on a lab whose Keystone issues 20-second tokens (and
// whose Glance hashes with sha256, to see an os_hash_algo that was not computed get reported).
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { XenimageError } from '../../src/errors.js';
import { buildTag, publishImage, type OpenStackCloud, type PublishSpec } from '../../src/openstack/index.js';
import { identityV3Url } from '../../src/openstack/keystone.js';
import { bufferBody } from './support/body.js';
import { startTestLab, type TestLab } from './support/lab.js';

// A token must outlive its own validation: under load (load average 10+ on this 2-core machine) Glance's
// validation call to Keystone took 5–8 s (measured in glance-api.log), so 6-second tokens were already expired when
// Glance first looked at them and every call failed 401. 20 s leaves that latency well behind.
const TOKEN_SECONDS = 20;
let t0: TestLab;
let admin: OpenStackCloud;

before(async () => {
  t0 = await startTestLab({ tokenExpirationSeconds: TOKEN_SECONDS, hashingAlgorithm: 'sha256' });
  admin = t0.admin();
});
after(async () => {
  await t0?.close();
});

function spec(): PublishSpec {
  return { buildId: `build-${randomUUID()}`, name: 'token-test', properties: {} };
}

/** Revokes a token in Keystone (as the admin), as an operator or an expiry would. */
async function revoke(token: string): Promise<void> {
  const res = await fetch(`${identityV3Url(t0.lab.keystoneUrl)}/auth/tokens`, {
    method: 'DELETE',
    headers: { 'x-auth-token': await admin.session.token(), 'x-subject-token': token },
  });
  assert.equal(res.status, 204);
}

test('an upload that outlives its token succeeds; later calls run on a renewed token', async () => {
  const cloud = t0.cloud();
  const data = randomBytes(1024 * 1024);
  let expiryAtStart = 0;
  // 16 chunks, 1.5 s apart: the upload (24 s) lasts longer than the token lives.
  const body = bufferBody(data, {
    delayMs: 1500,
    onStart: () => {
      expiryAtStart = cloud.session.expiresAt!;
    },
  });
  const s = spec();
  const res = await publishImage(cloud, s, body, { osHashAlgo: 'sha256' });
  assert.ok(Date.now() > expiryAtStart, 'precondition: the token used for the upload has expired by now');
  assert.equal(res.status, 'active');
  assert.equal(res.osHashAlgo, 'sha256');
  assert.equal(res.osHashValue, createHash('sha256').update(data).digest('hex'));
  assert.equal(body.calls, 1, 'no restart was needed');
  assert.ok(cloud.session.expiresAt! > expiryAtStart, 'the session renewed its token for the verification');
  assert.equal((await cloud.glance.listImages({ tag: buildTag(s.buildId) })).length, 1);
});

test('Glance answers 401 to the upload: it restarts once with a new token and a new body', async () => {
  const cloud = t0.cloud();
  const data = randomBytes(512 * 1024);
  let revoked = '';
  const body = bufferBody(data, {
    // Before the first byte (undici sends the request head with the first chunk), revoke the token in use.
    onStart: async (attempt) => {
      if (attempt !== 1) return;
      revoked = await cloud.session.token();
      await revoke(revoked);
    },
  });
  const s = spec();
  const res = await publishImage(cloud, s, body, { osHashAlgo: 'sha256' });
  assert.equal(body.calls, 2, 'the body was produced a second time');
  assert.equal(res.status, 'active');
  assert.equal(res.size, data.length);
  assert.notEqual(await cloud.session.token(), revoked);
  const images = await cloud.glance.listImages({ tag: buildTag(s.buildId) });
  assert.deepEqual(
    images.map((i) => i.id),
    [res.imageId],
    'still one image for the build',
  );
});

test('a JSON call with a revoked token re-authenticates once and succeeds', async () => {
  const cloud = t0.cloud();
  const token = await cloud.session.renew(); // never shown to Glance, so not in its token cache
  await revoke(token);
  const images = await cloud.glance.listImages({});
  assert.ok(Array.isArray(images));
  assert.notEqual(await cloud.session.token(), token);
});

test('an os_hash_algo that was not computed is reported (non-retryable) and the image deleted', async () => {
  const cloud = t0.cloud();
  const s = spec();
  const err = await publishImage(cloud, s, bufferBody(randomBytes(10_000))).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError);
  assert.equal(err.type, 'ImageHashNotComputed');
  assert.equal(err.retryable, false);
  assert.match(err.message, /sha256/);
  assert.deepEqual(await cloud.glance.listImages({ tag: buildTag(s.buildId) }), []);
});
