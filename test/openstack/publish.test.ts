// publishImage against the real lab (Glance with a small image_size_cap): verified happy path, reuse, a
// leftover replaced, failures and aborts leaving nothing, bad input refused before anything exists.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { InvalidInputError, XenimageError } from '../../src/errors.js';
import {
  BUILD_ID_PROPERTY,
  buildTag,
  deleteBuildImages,
  downloadImage,
  loadCloud,
  openCloud,
  publishImage,
  type OpenStackCloud,
  type PublishSpec,
} from '../../src/openstack/index.js';
import { identityV3Url } from '../../src/openstack/keystone.js';
import { waitFor } from '../helpers/waitFor.js';
import { bufferBody } from './support/body.js';
import { startTestLab, type TestLab } from './support/lab.js';

const CAP = 6 * 1024 * 1024;
let t0: TestLab;
let cloud: OpenStackCloud;

before(async () => {
  t0 = await startTestLab({ imageSizeCap: CAP });
  cloud = t0.cloud();
});
after(async () => {
  await t0?.close();
});

function spec(extra: Partial<PublishSpec> = {}): PublishSpec {
  return {
    buildId: `build-${randomUUID()}`,
    name: 'win2022-test',
    minDiskGiB: 1,
    minRamMiB: 256,
    properties: { vm_mode: 'hvm', os_type: 'windows', xenapi_device_id: '0002' },
    ...extra,
  };
}

async function imagesOf(buildId: string) {
  return cloud.glance.listImages({ tag: buildTag(buildId) });
}

async function rejection(p: Promise<unknown>): Promise<XenimageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError, `expected a XenimageError, got ${String(err)}`);
  return err;
}

test('happy path: created, streamed, verified, tagged with the build', async () => {
  const s = spec({ visibility: 'private' });
  const data = randomBytes(3 * 1024 * 1024 + 7);
  const body = bufferBody(data);
  let progress = 0;
  const res = await publishImage(cloud, s, body, { onProgress: (n) => (progress = n) });
  assert.equal(res.reused, false);
  assert.equal(res.status, 'active');
  assert.equal(res.size, data.length);
  assert.equal(progress, data.length);
  assert.equal(body.calls, 1);
  const images = await imagesOf(s.buildId);
  assert.deepEqual(
    images.map((i) => i.id),
    [res.imageId],
  );
  const img = images[0]!;
  assert.equal(img.container_format, 'ovf');
  assert.equal(img.disk_format, 'vhd');
  assert.equal(img.visibility, 'private');
  assert.equal(img.min_disk, 1);
  assert.equal(img.min_ram, 256);
  assert.equal(img[BUILD_ID_PROPERTY], s.buildId);
  assert.equal(img.xenapi_device_id, '0002');
  assert.equal(img.checksum, res.checksum);
  assert.equal(res.osHashAlgo, 'sha512');
  assert.equal(res.osHashValue, createHash('sha512').update(data).digest('hex'));
  assert.equal(img.os_hash_value, res.osHashValue);
  // What Glance serves back is what was sent.
  const chunks: Buffer[] = [];
  for await (const c of await downloadImage(cloud, res.imageId)) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data));
});

test('a second publish of the same build reuses the active image (one image, no second upload)', async () => {
  const s = spec();
  const first = await publishImage(cloud, s, bufferBody(randomBytes(100_000)));
  const body = bufferBody(randomBytes(100_000));
  const second = await publishImage(cloud, s, body, {
    previous: { imageId: first.imageId, size: first.size, checksum: first.checksum },
  });
  assert.equal(second.reused, true);
  assert.equal(second.imageId, first.imageId);
  assert.equal(second.checksum, first.checksum);
  assert.equal(body.calls, 0, 'the body was not streamed again');
  const third = await publishImage(cloud, s, body);
  assert.equal(third.imageId, first.imageId, 'any active image of the build is reused');
  assert.equal((await imagesOf(s.buildId)).length, 1);
});

test('a leftover queued image of the build is deleted and replaced', async () => {
  const s = spec();
  const leftover = await cloud.glance.createImage({
    name: s.name,
    container_format: 'ovf',
    disk_format: 'vhd',
    tags: [buildTag(s.buildId)],
  });
  assert.equal(leftover.status, 'queued');
  const res = await publishImage(cloud, s, bufferBody(randomBytes(200_000)));
  assert.notEqual(res.imageId, leftover.id);
  assert.deepEqual(
    (await imagesOf(s.buildId)).map((i) => [i.id, i.status]),
    [[res.imageId, 'active']],
  );
  const gone = await rejection(cloud.glance.getImage(leftover.id));
  assert.equal(gone.type, 'GlanceImageNotFound');
});

test('a body that fails midway leaves no image and rethrows typed', async () => {
  const s = spec();
  const err = await rejection(
    publishImage(cloud, s, bufferBody(randomBytes(2 * 1024 * 1024), { failAfter: 1024 * 1024 })),
  );
  assert.equal(err.type, 'ImageSourceFailed');
  assert.equal(err.retryable, true);
  assert.match(err.message, /simulated source failure/);
  assert.deepEqual(await imagesOf(s.buildId), []);
});

test('abort mid-upload leaves no image', async () => {
  const s = spec();
  const ac = new AbortController();
  const body = bufferBody(randomBytes(4 * 1024 * 1024), { chunkSize: 64 * 1024, delayMs: 20 });
  const publishing = publishImage(cloud, s, body, { signal: ac.signal });
  await waitFor('half a MiB of the body read', () => body.produced >= 512 * 1024, 30_000, 10);
  ac.abort();
  const err = await rejection(publishing);
  assert.equal(err.type, 'PublishAborted');
  assert.ok(body.produced < 4 * 1024 * 1024, 'the body stopped early');
  assert.deepEqual(await imagesOf(s.buildId), []);
});

test('a non-string property or an unknown visibility is refused before anything is created', async () => {
  const before = (await cloud.glance.listImages({})).length;
  const bodyA = bufferBody(Buffer.from('x'));
  const a = await rejection(
    publishImage(cloud, spec({ properties: { auto_disk_config: true as unknown as string } }), bodyA),
  );
  assert.ok(a instanceof InvalidInputError);
  assert.equal(a.retryable, false);
  assert.match(a.message, /auto_disk_config.*string/);
  const b = await rejection(publishImage(cloud, spec({ visibility: 'everyone' as never }), bodyA));
  assert.equal(b.type, 'InvalidInput');
  assert.match(b.message, /visibility "everyone"/);
  const c = await rejection(publishImage(cloud, spec({ properties: { name: 'sneaky' } }), bodyA));
  assert.equal(c.type, 'InvalidInput');
  assert.equal(bodyA.calls, 0);
  assert.equal((await cloud.glance.listImages({})).length, before, 'nothing was created');
});

test("Glance's image_size_cap: typed non-retryable GlanceQuotaExceeded and no image left", async () => {
  const s = spec();
  const err = await rejection(publishImage(cloud, s, bufferBody(randomBytes(CAP + 2 * 1024 * 1024))));
  assert.equal(err.type, 'GlanceQuotaExceeded');
  assert.equal(err.retryable, false);
  assert.deepEqual(await imagesOf(s.buildId), []);
});

test('deleteBuildImages removes every image of the build, whatever its status', async () => {
  const s = spec();
  await publishImage(cloud, s, bufferBody(randomBytes(10_000)));
  await cloud.glance.createImage({
    name: 'stray',
    container_format: 'ovf',
    disk_format: 'vhd',
    tags: [buildTag(s.buildId)],
  });
  const deleted = await deleteBuildImages(cloud, s.buildId);
  assert.equal(deleted.length, 2);
  assert.deepEqual(await imagesOf(s.buildId), []);
  assert.deepEqual(await deleteBuildImages(cloud, s.buildId), [], 'a second compensation finds nothing');
});

test('a proxy that refuses chunked uploads (411): the two-pass Content-Length fallback still publishes', async (t) => {
  // A plain HTTP proxy in front of the real Glance that answers 411 to chunked bodies, as some proxies do.
  const seen = { refusedChunked: 0, withLength: 0 };
  const upstream = new URL(t0.lab.glanceUrl);
  const proxy = http.createServer((req, res) => {
    if (req.method === 'PUT' && req.headers['transfer-encoding'] === 'chunked') {
      seen.refusedChunked += 1;
      req.resume();
      res.writeHead(411, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ message: 'Length Required' }));
      return;
    }
    if (req.method === 'PUT') seen.withLength += 1;
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', (err) => res.destroy(err));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  // Registered in Keystone as the image endpoint of a second region; the build cloud picks it by region_name.
  const admin = t0.admin();
  const keystone = identityV3Url(t0.lab.keystoneUrl);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${keystone}${path}`, {
      method,
      headers: { 'x-auth-token': await admin.session.token(), 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await call('POST', '/regions', { region: { id: 'ProxyRegion' } });
  const services = (await call('GET', '/services?type=image')).services as { id: string }[];
  await call('POST', '/endpoints', {
    endpoint: { service_id: services[0]!.id, interface: 'public', region_id: 'ProxyRegion', url: proxyUrl },
  });
  const proxied = openCloud({
    ...loadCloud(t0.lab.cloud, { file: t0.lab.cloudsFile, env: {} }),
    regionName: 'ProxyRegion',
  });
  t.after(() => proxied.close());
  assert.equal(await proxied.glance.endpoint(), proxyUrl);

  const s = spec();
  const data = randomBytes(700_000);
  const body = bufferBody(data);
  const res = await publishImage(proxied, s, body);
  assert.equal(res.status, 'active');
  assert.equal(res.size, data.length);
  assert.equal(res.osHashValue, createHash('sha512').update(data).digest('hex'));
  assert.deepEqual(seen, { refusedChunked: 1, withLength: 1 });
  assert.equal(body.calls, 3, 'chunked attempt, counting pass, upload with Content-Length');
  assert.deepEqual(
    (await imagesOf(s.buildId)).map((i) => i.id),
    [res.imageId],
  );
});

test('two attempts of one build racing: one image survives and every success names it', async () => {
  const s = spec();
  // Slow bodies so that both attempts are between create and verification at the same time.
  const bodies = [bufferBody(randomBytes(400_000), { delayMs: 30 }), bufferBody(randomBytes(400_000), { delayMs: 30 })];
  const outcomes = await Promise.allSettled(bodies.map((body) => publishImage(cloud, s, body)));
  const images = await imagesOf(s.buildId);
  assert.equal(images.length, 1, `one image, got ${JSON.stringify(images.map((i) => [i.id, i.status]))}`);
  assert.equal(images[0]!.status, 'active');
  const ok = outcomes.filter(
    (o): o is PromiseFulfilledResult<Awaited<ReturnType<typeof publishImage>>> => o.status === 'fulfilled',
  );
  assert.ok(ok.length >= 1, 'at least one attempt succeeds');
  for (const o of ok) assert.equal(o.value.imageId, images[0]!.id);
  for (const o of outcomes)
    if (o.status === 'rejected') assert.ok(o.reason instanceof XenimageError, `typed: ${String(o.reason)}`);
});
