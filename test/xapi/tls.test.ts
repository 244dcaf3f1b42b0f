// TLS verification is on by default and a pools file `ca:` makes a pool's own CA trusted: checked through an
// HTTPS front (node:tls) before the lab, with a CA and server certificate made by openssl for the test.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import tls from 'node:tls';
import { XenimageError } from '../../src/errors.js';
import { SecretResolver } from '../../src/secrets.js';
import { connectPool } from '../../src/xapi/connect.js';
import { writePoolEntry } from '../../src/xapi/pools.js';
import { beforeLabStops, startTestLab } from '../helpers/xapiLab.js';
import { makeCertificates } from '../helpers/testCa.js';
import { tempDir } from '../helpers/tmp.js';

test('TLS: refused without the CA (typed, not retryable), working with it for calls, export and import', async (t) => {
  const lab = await startTestLab(t);
  const dir = await tempDir(t);
  await makeCertificates(dir);
  const labPort = Number(new URL(lab.url).port);
  const sockets = new Set<net.Socket>();
  const front = tls.createServer(
    { key: await readFile(path.join(dir, 'server.key')), cert: await readFile(path.join(dir, 'server.pem')) },
    (socket) => {
      const upstream = net.connect(labPort, '127.0.0.1');
      sockets.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  beforeLabStops(lab, () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => front.close(resolve));
  });
  const port = (front.address() as net.AddressInfo).port;
  const poolsFile = path.join(dir, 'pools.yaml');
  const where = { poolsFile, secrets: new SecretResolver({ dir: lab.secretsDir, env: {} }) };

  await writePoolEntry(poolsFile, 'tls-pool', {
    url: `https://127.0.0.1:${port}`,
    username: lab.username,
    password: { secret: lab.secretName },
  });
  const refused = await connectPool('tls-pool', where).catch((e: unknown) => e);
  assert.ok(refused instanceof XenimageError);
  assert.equal(refused.type, 'XapiTlsVerification');
  assert.equal(refused.retryable, false);

  await writePoolEntry(poolsFile, 'tls-pool', {
    url: `https://127.0.0.1:${port}`,
    username: lab.username,
    password: { secret: lab.secretName },
    ca: 'ca.pem',
  });
  const conn = await connectPool('tls-pool', where, { eventPollDelayMs: 200 });
  beforeLabStops(lab, () => conn.close());
  assert.equal(conn.all('pool')[0]?.name_label, lab.poolName);
  const [sr] = await conn.call<string[]>('SR.get_by_name_label', 'Local storage');
  const vdi = await conn.call<string>('VDI.create', {
    SR: sr,
    virtual_size: 2 * 1024 * 1024,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
  });
  const payload = Buffer.alloc(1024 * 1024, 0x5a);
  await conn.importVdi(vdi, Readable.from([payload]), payload.length, 'raw');
  const { stream, task } = await conn.exportVdi(vdi, 'raw');
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  await task;
  assert.deepEqual(Buffer.concat(chunks).subarray(0, payload.length), payload);
});
