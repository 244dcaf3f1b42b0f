// The lab's Keystone + Glance process manager: a fresh start, what it writes (0600 secrets, clouds.yaml, logs),
// a clean stop with no process left, and a restart on the same state dir that keeps users and images while
// the ports move.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startOpenStack, LAB_CLOUD } from '../../../src/lab/openstack/index.js';
import { XenimageError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { testLogger } from '../../helpers/logger.js';
import { connectCloud } from '../../../src/openstack/index.js';

const stateDir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-lab-openstack-'));
after(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** Processes whose command line mentions the state dir (our services), from /proc. */
function processesOf(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const mode = (file: string) => statSync(file).mode & 0o777;

test('start, use, stop, restart on the same state dir', async () => {
  const lines: string[] = [];
  const logger = createLogger({ destination: { write: (s: string) => void lines.push(s) }, level: 'debug' });
  const data = randomBytes(256 * 1024);

  // First start: everything is set up.
  const lab = await startOpenStack({ stateDir, log: logger });
  let imageId: string;
  let buildPassword: string;
  try {
    assert.equal(lab.cloud, LAB_CLOUD);
    assert.match(lab.keystoneUrl, /^http:\/\/127\.0\.0\.1:\d+\/v3$/);
    assert.match(lab.glanceUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(lab.cloudsFile, path.join(stateDir, 'openstack', 'clouds.yaml'));
    assert.equal(mode(lab.cloudsFile), 0o600);
    for (const name of ['openstack-admin', 'openstack-build', 'openstack-glance'])
      assert.equal(mode(path.join(stateDir, 'secrets', name)), 0o600);
    assert.equal(mode(path.join(stateDir, 'secrets')), 0o700);
    buildPassword = (await readFile(path.join(stateDir, 'secrets', 'openstack-build'), 'utf8')).trim();
    const clouds = parseYaml(await readFile(lab.cloudsFile, 'utf8')) as {
      clouds: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(clouds.clouds[LAB_CLOUD], {
      auth_type: 'password',
      auth: {
        auth_url: lab.keystoneUrl,
        username: 'xenimage-build',
        password: buildPassword,
        project_name: 'xenimage',
        user_domain_name: 'Default',
        project_domain_name: 'Default',
      },
      region_name: 'RegionOne',
      interface: 'public',
      identity_api_version: 3,
      allow_http: true,
    });
    for (const log of ['keystone.log', 'glance-api.log', 'setup.log'])
      assert.ok(statSync(path.join(lab.logDir, log)).size > 0, `${log} is written`);
    assert.ok(processesOf(stateDir).length >= 2, 'Keystone and Glance run');

    const cloud = connectCloud(LAB_CLOUD, { file: lab.cloudsFile, env: {} });
    try {
      const image = await cloud.glance.createImage({
        name: 'survives-restart',
        container_format: 'ovf',
        disk_format: 'vhd',
      });
      imageId = image.id;
      await cloud.glance.uploadImageData(imageId, Readable.from([data]));
    } finally {
      await cloud.close();
    }
  } finally {
    await lab.stop();
  }
  assert.deepEqual(processesOf(stateDir), [], 'no process is left after stop()');
  await assert.rejects(fetch(lab.keystoneUrl), 'Keystone no longer answers');

  // Second start: same users and images, endpoints and clouds.yaml follow the new ports, setup is skipped.
  const lab2 = await startOpenStack({ stateDir, log: logger, ports: { keystone: 0, glance: 0 } });
  try {
    const cloud = connectCloud(undefined, { env: { OS_CLOUD: LAB_CLOUD, OS_CLIENT_CONFIG_FILE: lab2.cloudsFile } });
    try {
      assert.equal(await cloud.glance.endpoint(), lab2.glanceUrl, 'the catalog points at the running Glance');
      const image = await cloud.glance.getImage(imageId);
      assert.equal(image.status, 'active');
      assert.equal(image.checksum, createHash('md5').update(data).digest('hex'));
      const chunks: Buffer[] = [];
      for await (const c of await cloud.glance.downloadImageData(imageId)) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(data), 'the file store kept the data');
    } finally {
      await cloud.close();
    }
    const setupLog = await readFile(path.join(lab2.logDir, 'setup.log'), 'utf8');
    assert.equal(setupLog.match(/keystone db_sync:/g)?.length, 1, 'db_sync ran once');
    assert.equal(setupLog.match(/keystone bootstrap:/g)?.length, 1, 'bootstrap ran once');
    assert.equal(
      (await readFile(path.join(stateDir, 'secrets', 'openstack-build'), 'utf8')).trim(),
      buildPassword,
      'passwords are kept',
    );
  } finally {
    await lab2.stop();
  }
  assert.deepEqual(processesOf(stateDir), []);

  // Nothing the lab logged holds a password.
  const logged = lines.join('');
  assert.ok(logged.includes('Keystone and Glance are ready'));
  for (const name of ['openstack-admin', 'openstack-build', 'openstack-glance']) {
    const secret = (await readFile(path.join(stateDir, 'secrets', name), 'utf8')).trim();
    assert.ok(!logged.includes(secret), `${name} is not in the log`);
  }
});

test('a service that cannot start (its port is taken): typed error, and nothing is left running', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-lab-openstack-busy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Another program holds the port (and hangs up on whoever connects, so closing it needs no waiting).
  const squatter = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const busy = (squatter.address() as net.AddressInfo).port;

  const err = await startOpenStack({ stateDir: dir, log: testLogger(), ports: { keystone: busy } }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError, String(err));
  assert.equal(err.type, 'OpenStackStartFailed');
  assert.match(err.message, /keystone \(uwsgi\) exited before Keystone answering/);
  assert.ok(
    err.message.includes(path.join(dir, 'openstack', 'logs', 'keystone-uwsgi.log')),
    'the message points at the log',
  );
  assert.match(
    await readFile(path.join(dir, 'openstack', 'logs', 'keystone-uwsgi.log'), 'utf8'),
    /Address already in use/,
  );
  assert.deepEqual(processesOf(dir), [], 'Glance, started alongside, was stopped too');
});
