// Transport to a pool (issue 10 item 7): an http:// pool URL only when its entry says `insecure: true` (one
// warning), TLS 1.2 or newer (a TLS 1.1-only pool is refused typed), and no https→http downgrade on an export's
// redirect. TLS fronts with a test CA stand before the lab.
import assert from 'node:assert/strict';
import { writeFile, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { stringify as toYaml } from 'yaml';
import { XenimageError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { SecretResolver } from '../../src/secrets.js';
import { connectPool } from '../../src/xapi/connect.js';
import { writePoolEntry } from '../../src/xapi/pools.js';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { makeCertificates } from '../helpers/testCa.js';
import { tempDir } from '../helpers/tmp.js';
import { beforeLabStops, startTestLab } from '../helpers/xapiLab.js';

async function labWithCa(t: TestContext) {
  const lab = await startTestLab(t);
  const dir = await tempDir(t);
  await makeCertificates(dir);
  const poolsFile = path.join(dir, 'pools.yaml');
  const where = { poolsFile, secrets: new SecretResolver({ dir: lab.secretsDir, env: {} }) };
  const cert = {
    key: await readFile(path.join(dir, 'server.key')),
    cert: await readFile(path.join(dir, 'server.pem')),
  };
  return { lab, dir, poolsFile, where, cert };
}

/** Listens on 127.0.0.1 and closes (with its open sockets) before the lab stops; resolves to the port. */
async function listen(lab: XapiLab, server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => sockets.add(s));
  server.on('secureConnection', (s: net.Socket) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  beforeLabStops(lab, () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve(undefined)));
  });
  return (server.address() as net.AddressInfo).port;
}

function refusal(err: unknown): XenimageError {
  assert.ok(err instanceof XenimageError, `a typed error, got ${String(err)}`);
  return err;
}

test('an http:// pool URL is refused unless its entry says insecure: true; then one warning per pool', async (t) => {
  const { lab, poolsFile, where } = await labWithCa(t);
  const pool = `plain-${process.pid}`;
  const entry = { url: lab.url, username: lab.username, password: { secret: lab.secretName } };
  assert.match(lab.url, /^http:/);
  await writeFile(poolsFile, toYaml({ pools: { [pool]: entry } }));
  const refused = refusal(await connectPool(pool, where).catch((e: unknown) => e));
  assert.equal(refused.type, 'InvalidInput');
  assert.equal(refused.retryable, false);
  assert.match(refused.message, /insecure: true/);

  await writeFile(poolsFile, toYaml({ pools: { [pool]: { ...entry, insecure: true } } }));
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
  for (let i = 0; i < 2; i++) {
    const conn = await connectPool(pool, where, { log, eventPollDelayMs: 200 });
    assert.equal(conn.all('pool')[0]?.name_label, lab.poolName);
    await conn.close();
  }
  const warnings = lines.filter((l) => l.includes('plain http'));
  assert.equal(warnings.length, 1, lines.join(''));
  assert.equal(JSON.parse(warnings[0]!).level, 40, 'a warning');
  assert.ok(!warnings[0]!.includes(lab.password), 'no password in the warning');
});

test('a pool that offers only TLS 1.1 is refused typed and not retryable (a TLS 1.0 client would connect)', async (t) => {
  const { lab, poolsFile, where, cert, dir } = await labWithCa(t);
  const labPort = Number(new URL(lab.url).port);
  // OpenSSL 3 speaks TLS 1.1 only at security level 0.
  const old = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
  const front = tls.createServer({ ...cert, ...old }, (socket) => {
    const upstream = net.connect(labPort, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  const port = await listen(lab, front);
  const ca = await readFile(path.join(dir, 'ca.pem'));
  // The front answers a client that accepts TLS 1.1, so the refusal below is the engine's own floor.
  const protocol = await new Promise<string | null>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
      resolve(s.getProtocol());
      s.end();
    });
    s.on('error', reject);
  });
  assert.equal(protocol, 'TLSv1.1');

  await writePoolEntry(poolsFile, 'old-tls', {
    url: `https://127.0.0.1:${port}`,
    username: lab.username,
    password: { secret: lab.secretName },
    ca: 'ca.pem',
  });
  const refused = refusal(await connectPool('old-tls', where).catch((e: unknown) => e));
  assert.equal(refused.type, 'XapiTlsVersion', refused.message);
  assert.equal(refused.retryable, false);
});

test('an export redirected from https to http is refused typed; https to https is followed', async (t) => {
  const { lab, poolsFile, where, cert } = await labWithCa(t);
  const labUrl = new URL(lab.url);
  let downgrade = false;
  let frontPort = 0;
  // An https front that passes everything to the lab, and redirects each export once: to itself (hop=1) or,
  // when `downgrade` is set, to the lab's plain http.
  const front = https.createServer(cert, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    if (url.pathname === '/export_raw_vdi' && !url.searchParams.has('hop')) {
      url.searchParams.set('hop', '1');
      const to = downgrade ? `http://127.0.0.1:${labUrl.port}` : `https://127.0.0.1:${frontPort}`;
      res.writeHead(302, { location: `${to}${url.pathname}${url.search}` }).end();
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: labUrl.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  frontPort = await listen(lab, front);
  await writePoolEntry(poolsFile, 'redirects', {
    url: `https://127.0.0.1:${frontPort}`,
    username: lab.username,
    password: { secret: lab.secretName },
    ca: 'ca.pem',
  });
  const conn = await connectPool('redirects', where, { eventPollDelayMs: 200 });
  beforeLabStops(lab, () => conn.close());
  const [sr] = await conn.call<string[]>('SR.get_by_name_label', 'Local storage');
  const vdi = await conn.call<string>('VDI.create', {
    SR: sr,
    virtual_size: 2 * 1024 * 1024,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
  });

  const { stream, task } = await conn.exportVdi(vdi, 'raw');
  let bytes = 0;
  for await (const c of stream) bytes += (c as Buffer).length;
  await task;
  assert.equal(bytes, 2 * 1024 * 1024, 'the https→https redirect was followed');

  downgrade = true;
  const refused = refusal(await conn.exportVdi(vdi, 'raw').catch((e: unknown) => e));
  assert.equal(refused.type, 'XapiInsecureRedirect', refused.message);
  assert.equal(refused.retryable, false);
  assert.ok(!refused.message.includes('session_id'), 'the message shows no session');
});
