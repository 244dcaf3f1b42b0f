// Integrity end to end: after the upload, the image's os_hash_algo/os_hash_value (SHA-512 on this Glance) is
// compared with the SHA-512 computed while streaming. A proxy in front of the real Glance plays the faults: bytes
// changed on the way (Glance stores and hashes other data), and a Glance that reports a SHA-512 other than that
// of the bytes sent. Each is detected, typed, and the image deleted.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import { after, before, test } from 'node:test';
import { XenimageError } from '../../src/errors.js';
import {
  buildTag,
  loadCloud,
  openCloud,
  publishImage,
  type OpenStackCloud,
  type PublishSpec,
} from '../../src/openstack/index.js';
import { identityV3Url } from '../../src/openstack/keystone.js';
import { bufferBody } from './support/body.js';
import { startTestLab, type TestLab } from './support/lab.js';

type Fault = 'none' | 'flip a byte of the upload' | 'report another sha512';

let t0: TestLab;
let proxyServer: http.Server;
let proxied: OpenStackCloud;
let fault: Fault = 'none';

const sha512 = (b: Buffer | string) => createHash('sha512').update(b).digest('hex');

/** A proxy in front of Glance that forwards everything, changing what `fault` says. */
function startProxy(upstream: URL): http.Server {
  return http.createServer((req, res) => {
    const isUpload = req.method === 'PUT' && /\/file$/.test(req.url ?? '');
    const isImageGet = req.method === 'GET' && /^\/v2\/images\/[0-9a-f-]{36}$/.test(req.url ?? '');
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        if (!(isImageGet && fault === 'report another sha512')) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const image = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          if (image.os_hash_value) image.os_hash_value = sha512('other data');
          const body = JSON.stringify(image);
          const { 'content-length': _cl, ...headers } = up.headers;
          res.writeHead(up.statusCode ?? 502, { ...headers, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      },
    );
    forward.on('error', (err) => res.destroy(err));
    if (isUpload && fault === 'flip a byte of the upload') {
      let flipped = false;
      req
        .pipe(
          new Transform({
            transform(chunk: Buffer, _enc, done) {
              if (!flipped && chunk.length > 0) {
                chunk[0] = chunk[0]! ^ 0xff;
                flipped = true;
              }
              done(null, chunk);
            },
          }),
        )
        .pipe(forward);
    } else req.pipe(forward);
  });
}

before(async () => {
  t0 = await startTestLab();
  proxyServer = startProxy(new URL(t0.lab.glanceUrl));
  await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;
  // The proxy is the image endpoint of a second region; the test's cloud picks it by region_name.
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
  await call('POST', '/regions', { region: { id: 'IntegrityRegion' } });
  const services = (await call('GET', '/services?type=image')).services as { id: string }[];
  await call('POST', '/endpoints', {
    endpoint: { service_id: services[0]!.id, interface: 'public', region_id: 'IntegrityRegion', url: proxyUrl },
  });
  proxied = openCloud({
    ...loadCloud(t0.lab.cloud, { file: t0.lab.cloudsFile, env: {} }),
    regionName: 'IntegrityRegion',
  });
  assert.equal(await proxied.glance.endpoint(), proxyUrl);
});
after(async () => {
  await proxied?.close();
  await new Promise<void>((resolve) => (proxyServer ? proxyServer.close(() => resolve()) : resolve()));
  await t0?.close();
});

function spec(): PublishSpec {
  return { buildId: `build-${randomUUID()}`, name: 'integrity-test', properties: {} };
}

async function failureOf(s: PublishSpec, data: Buffer): Promise<XenimageError> {
  const err = await publishImage(proxied, s, bufferBody(data)).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError, `a typed failure, got ${String(err)}`);
  return err;
}

test('through the proxy without a fault: the image’s sha512 is the one computed while streaming', async () => {
  fault = 'none';
  const data = randomBytes(300_000);
  const res = await publishImage(proxied, spec(), bufferBody(data));
  assert.equal(res.status, 'active');
  assert.equal(res.osHashAlgo, 'sha512');
  assert.equal(res.osHashValue, sha512(data));
});

test('a Glance that reports another SHA-512 than the bytes sent: detected, typed, the image deleted', async () => {
  fault = 'report another sha512';
  const s = spec();
  const data = randomBytes(300_000);
  const err = await failureOf(s, data);
  assert.equal(err.type, 'ImageVerificationFailed');
  assert.equal(err.retryable, true, 'a new upload may get it right');
  assert.match(err.message, new RegExp(`has sha512 ${sha512('other data')} but the data sent has ${sha512(data)}`));
  fault = 'none';
  assert.deepEqual(await t0.cloud().glance.listImages({ tag: buildTag(s.buildId) }), []);
});

test('bytes changed on the way to Glance: its checksums differ from what was sent; detected, the image deleted', async () => {
  fault = 'flip a byte of the upload';
  const s = spec();
  const data = randomBytes(300_000);
  const err = await failureOf(s, data);
  assert.equal(err.type, 'ImageVerificationFailed');
  assert.match(err.message, /has MD5 [0-9a-f]{32} but the data sent has/);
  fault = 'none';
  assert.deepEqual(await t0.cloud().glance.listImages({ tag: buildTag(s.buildId) }), []);
});
