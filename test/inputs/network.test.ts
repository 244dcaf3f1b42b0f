// Where an input may connect: URLs without credentials, public addresses unless the configuration allows a
// network, checked on the literal address, after DNS and after every redirect; installers' checksum mismatches
// never reveal the file's hash; a URL source refused by the policy is typed and not retried.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { HttpSource } from '../../src/disk/httpSource.js';
import { ImageSourceSchema } from '../../src/contracts/convertInput.js';
import { InstallerSourceSchema } from '../../src/contracts/installerSource.js';
import { checkUrl, checkUrlReachable, guardedFetch, redirectTarget } from '../../src/inputs/network.js';
import { inputPolicyOf, type InputPolicy } from '../../src/inputs/policy.js';
import { fetchArtifact } from '../../src/windows/artifacts.js';
import { tempDir } from '../helpers/tmp.js';

function policy(allow: string[] = []): InputPolicy {
  return inputPolicyOf(loadConfig({ XENIMAGE_NETWORK_ALLOW: allow.join(',') }), { env: {} });
}

type Refusal = Error & { type?: string; retryable?: boolean; details?: { reason?: string } };

function refusedFor(reason: string) {
  return (err: Refusal) => {
    assert.equal(err.type, 'InputRefused', err.message);
    assert.equal(err.retryable, false);
    assert.equal(err.details?.reason, reason, err.message);
    return true;
  };
}

/** A loopback server on `host`: `/file` answers bytes, `/to?u=…` redirects there, `/loop` redirects to itself. */
async function server(t: { after(fn: () => Promise<void>): void }, host: string, body = Buffer.from('hello')) {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`${url.pathname} ${req.headers.authorization ?? ''}`.trim());
    if (url.pathname === '/to') return void res.writeHead(302, { location: url.searchParams.get('u') ?? '/' }).end();
    if (url.pathname === '/loop') return void res.writeHead(301, { location: '/loop' }).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => srv.listen(0, host, r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  return { base: `http://${host}:${(srv.address() as AddressInfo).port}`, seen };
}

test('literal loopback, link-local, private and mapped addresses are refused; public ones pass', () => {
  const p = policy();
  for (const url of [
    'http://127.0.0.1/x',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.5/disk.qcow2',
    'http://172.20.1.1/',
    'http://192.168.1.1/',
    'http://[::1]/x',
    'http://[fe80::1]/x',
    'http://[fd00::1]/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://0x7f.1/x', // another spelling of 127.0.0.1
    'http://2130706433/x',
    'http://0.0.0.0/x',
  ]) {
    assert.throws(() => checkUrl(url, p, 'source'), refusedFor('address not allowed'), url);
  }
  assert.equal(checkUrl('https://93.184.215.14/disk.qcow2', p, 'source').hostname, '93.184.215.14');
  // A configured network opens exactly that network.
  const lab = policy(['10.1.0.0/16']);
  assert.equal(checkUrl('http://10.1.2.3/x', lab, 'source').hostname, '10.1.2.3');
  assert.throws(() => checkUrl('http://10.2.0.1/x', lab, 'source'), refusedFor('address not allowed'));
});

test('credentials in a URL and other schemes are refused, and messages show no credentials or query', () => {
  const p = policy();
  assert.throws(
    () => checkUrl('https://user:hunter2@images.example/disk.qcow2?token=abc', p, 'source'),
    (err: Refusal) => {
      refusedFor('url credentials')(err);
      assert.doesNotMatch(err.message, /hunter2|token|abc|user/);
      assert.match(err.message, /https:\/\/images\.example\/disk\.qcow2/);
      return true;
    },
  );
  assert.throws(() => checkUrl('file:///etc/passwd', p, 'source'), refusedFor('url scheme'));
  assert.throws(() => checkUrl('ftp://images.example/x', p, 'source'), refusedFor('url scheme'));
  // The workflow's own validation refuses credentials before any activity runs.
  assert.equal(ImageSourceSchema.safeParse({ url: 'https://u:p@images.example/d.qcow2' }).success, false);
  assert.equal(
    InstallerSourceSchema.safeParse({ url: 'https://u:p@images.example/t.msi', sha256: 'a'.repeat(64) }).success,
    false,
  );
  assert.equal(ImageSourceSchema.safeParse({ url: 'https://images.example/d.qcow2' }).success, true);
});

test('a name that resolves to loopback is refused after DNS, at check time and at connect time', async (t) => {
  const p = policy();
  await assert.rejects(checkUrlReachable('http://localhost/x', p, 'installer'), refusedFor('address not allowed'));
  const { base, seen } = await server(t, '127.0.0.1');
  const port = new URL(base).port;
  await assert.rejects(guardedFetch(p)(`http://localhost:${port}/file`), refusedFor('address not allowed'));
  assert.deepEqual(seen, [], 'no request reached the server');
  // Allowed when the configuration names loopback.
  const res = await guardedFetch(policy(['127.0.0.0/8']))(`http://localhost:${port}/file`);
  assert.equal(await res.text(), 'hello');
});

test('every redirect is checked: to loopback, past five hops, https to http; credentials stay with their origin', async (t) => {
  // Two loopback addresses: the policy allows only the first, the redirect goes to the second.
  const allowed = await server(t, '127.0.0.2');
  const forbidden = await server(t, '127.0.0.1');
  const p = policy(['127.0.0.2/32']);
  const fetchIt = guardedFetch(p);
  await assert.rejects(
    fetchIt(`${allowed.base}/to?u=${encodeURIComponent(`${forbidden.base}/file`)}`),
    refusedFor('address not allowed'),
  );
  assert.deepEqual(forbidden.seen, [], 'the forbidden server saw nothing');
  await assert.rejects(fetchIt(`${allowed.base}/loop`), refusedFor('too many redirects'));
  assert.equal(allowed.seen.filter((s) => s.startsWith('/loop')).length, 6, 'the first request and five redirects');
  // Within the allowed network a redirect is followed; Authorization is dropped when the origin changes.
  const other = await server(t, '127.0.0.2');
  const res = await fetchIt(`${allowed.base}/to?u=${encodeURIComponent(`${other.base}/file`)}`, {
    headers: { authorization: 'Bearer s3cret' },
  });
  assert.equal(await res.text(), 'hello');
  assert.deepEqual(other.seen, ['/file']);
  assert.throws(
    () => redirectTarget(new URL('https://images.example/a'), 'http://images.example/b', policy()),
    refusedFor('insecure redirect'),
  );
  assert.equal(redirectTarget(new URL('https://images.example/a'), '/b', policy()).href, 'https://images.example/b');
});

test('a URL source refused by the policy fails typed at once, without retries', async (t) => {
  const { base, seen } = await server(t, '127.0.0.1');
  const started = Date.now();
  await assert.rejects(
    HttpSource.open(`${base.replace('127.0.0.1', 'localhost')}/disk.qcow2`, { fetch: guardedFetch(policy()) }),
    refusedFor('address not allowed'),
  );
  assert.ok(Date.now() - started < 2000, 'no retry back-off');
  assert.deepEqual(seen, []);
});

test('an installer checksum mismatch says so without the actual hash; downloads are capped', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'tools.msi');
  const data = Buffer.from('not the pinned installer');
  await writeFile(file, data);
  const actual = createHash('sha256').update(data).digest('hex');
  await assert.rejects(
    fetchArtifact({ path: file, sha256: 'a'.repeat(64) }, path.join(dir, 'out')),
    (err: Error & { type?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.type, 'ArtifactChecksumMismatch');
      assert.match(err.message, /does not match/);
      assert.ok(!err.message.includes(actual) && !JSON.stringify(err.details).includes(actual), err.message);
      return true;
    },
  );
  const big = await server(t, '127.0.0.1', Buffer.alloc(64 * 1024, 1));
  await assert.rejects(
    fetchArtifact({ url: `${big.base}/file`, sha256: 'a'.repeat(64) }, path.join(dir, 'out2'), undefined, {
      fetch: guardedFetch(policy(['127.0.0.0/8'])),
      maxBytes: 1024,
    }),
    { type: 'ArtifactTooLarge' },
  );
});
