// The hostile-input corpus, through the workflows on the real dev server, the lab and Glance: every input an
// attacker who can start a build might try is refused typed and non-retryable within seconds, before anything is
// created — nothing in Glance, nothing in the pool — and no secret value appears in the failure, the history or
// the workers' log (every worker of this file logs at debug level into one capture, read after each case).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { ConvertImageInput } from '../../src/contracts/convertInput.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import { createLogger } from '../../src/log.js';
import { buildTag, type OpenStackCloud } from '../../src/openstack/index.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { assertNothingLeft, identityOf, labConnection, rootFailure, windowsInput } from '../helpers/builds.js';
import { testDeps } from '../helpers/deps.js';
import { onTeardown } from '../helpers/teardown.js';
import { startTestWorker } from '../helpers/worker.js';

/** Refused within this: the checks come first and nothing retries them. */
const WITHIN_MS = 20_000;

describe('hostile inputs', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;
  let convertQueue: string;
  let sources: string;
  let secretValues: string[];
  let redirector: string;
  /** Every line the workers (Temporal's worker logger and the activities' logger) wrote, at debug level. */
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });

  before(async () => {
    // The lab's workers are this file's own, so that their log is captured.
    lab = await startBuildLab({ workers: 'none' });
    const labDeps = testDeps({
      stateDir: lab.dir,
      secretsDir: lab.secretsDir,
      poolsFile: path.join(lab.dir, 'pools.yaml'),
      cloudsFile: lab.openstack.cloudsFile,
      sourceDirs: [path.join(lab.dir, 'installers'), path.join(lab.dir, 'sources')],
      logger,
    });
    await startTestWorker(lab.target, 'build', { taskQueue: lab.taskQueue, deps: labDeps, logger });
    await startTestWorker(lab.target, 'pool', { taskQueue: poolTaskQueue(lab.pool), deps: labDeps, logger });
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
    // A convert worker as production runs it: the lab's state and secrets, one source folder, and one allowed
    // loopback address (127.0.0.2, where a redirector sends elsewhere).
    sources = path.join(lab.dir, 'sources');
    await mkdir(sources, { recursive: true });
    const deps = testDeps({
      stateDir: lab.dir,
      secretsDir: lab.secretsDir,
      poolsFile: path.join(lab.dir, 'pools.yaml'),
      cloudsFile: lab.openstack.cloudsFile,
      sourceDirs: [sources],
      networkAllow: ['127.0.0.2/32'],
      logger,
    });
    convertQueue = (await startTestWorker(lab.target, 'hostile', { deps, logger })).taskQueue;
    const srv = http.createServer((_req, res) =>
      res.writeHead(302, { location: 'http://127.0.0.1:9/disk.qcow2' }).end(),
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.2', r));
    onTeardown(() => new Promise<void>((r) => srv.close(() => r())));
    redirector = `http://127.0.0.2:${(srv.address() as AddressInfo).port}/disk.qcow2`;
    // Every value of the secrets folder (the pool's root password, the build key, the builder's password).
    secretValues = await Promise.all(
      (await readdir(lab.secretsDir)).map(async (n) => (await readFile(path.join(lab.secretsDir, n), 'utf8')).trim()),
    );
    secretValues = secretValues.filter((v) => v.length >= 6);
    assert.ok(secretValues.length > 0);
  });

  async function refusedConvert(source: unknown, type: string, message?: RegExp): Promise<void> {
    const input: ConvertImageInput = {
      source: source as ConvertImageInput['source'],
      image: { name: `hostile-${randomUUID().slice(0, 6)}`, visibility: 'public' },
      vmMode: 'hvm',
      osType: 'linux',
      cloud: lab.openstack.cloud,
    };
    await refused('convertImage', convertQueue, input, type, message, false);
  }

  async function refused(
    workflow: string,
    taskQueue: string,
    input: unknown,
    type: string,
    message: RegExp | undefined,
    pool: boolean,
  ): Promise<void> {
    const started = Date.now();
    const linesBefore = logLines.length;
    const handle = await lab.client.workflow.start(workflow, {
      taskQueue,
      workflowId: `hostile-${randomUUID().slice(0, 8)}`,
      args: [input],
    });
    let failureText = '';
    await assert.rejects(handle.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.ok(failure, `a typed failure, got ${String(err)}`);
      assert.equal(failure.type, type, failure.message);
      assert.equal(failure.nonRetryable, true, failure.message);
      if (message) assert.match(failure.message, message);
      failureText = `${failure.message} ${JSON.stringify(failure.details ?? null)}`;
      return true;
    });
    assert.ok(Date.now() - started < WITHIN_MS, `refused in ${Date.now() - started} ms`);
    const build = identityOf(handle);
    if (pool) await assertNothingLeft(lab, conn, cloud, build);
    else assert.deepEqual(await cloud.glance.listImages({ tag: buildTag(build) }), [], 'nothing in Glance');
    const history = JSON.stringify(await handle.fetchHistory());
    for (const name of ['convertToGlance', 'createVm', 'prepareAnswerMedia'])
      assert.ok(!history.includes(`"${name}"`), `${name} was not scheduled`);
    const logText = logLines.join('');
    // The capture is live: the workers have written into it (start-up, and what they log of the refusals).
    assert.ok(logLines.length > 0, 'the workers log into the capture');
    if (process.env.XENIMAGE_TEST_SHOW_CAPTURE === '1')
      console.log(
        `${handle.workflowId}: ${logLines.length - linesBefore} new lines\n${logLines.slice(linesBefore).join('')}`,
      );
    for (const value of secretValues) {
      assert.ok(!failureText.includes(value), 'no secret value in the failure');
      assert.ok(!history.includes(value), 'no secret value in the history');
      assert.ok(!logText.includes(value), "no secret value in the workers' log");
    }
  }

  test('/etc/passwd', () => refusedConvert({ path: '/etc/passwd' }, 'InputRefused', /outside the folders/));

  test('a file of the secrets folder', async () => {
    const [name] = await readdir(lab.secretsDir);
    await refusedConvert({ path: path.join(lab.secretsDir, name!) }, 'InputRefused');
  });

  test("the lab's clouds.yaml", () => refusedConvert({ path: lab.openstack.cloudsFile }, 'InputRefused'));

  test('a link out of the source folder', async () => {
    const link = path.join(sources, `passwd-${randomUUID().slice(0, 6)}.raw`);
    await symlink('/etc/passwd', link);
    await refusedConvert({ path: link }, 'InputRefused', /outside the folders/);
    const intoSecrets = path.join(sources, `secret-${randomUUID().slice(0, 6)}.raw`);
    await symlink(path.join(lab.secretsDir, (await readdir(lab.secretsDir))[0]!), intoSecrets);
    await refusedConvert({ path: intoSecrets }, 'InputRefused');
  });

  test('a FIFO', async () => {
    const fifo = path.join(sources, `pipe-${randomUUID().slice(0, 6)}.qcow2`);
    execFileSync('mkfifo', [fifo]);
    await refusedConvert({ path: fifo }, 'InputRefused', /not a regular file/);
  });

  for (const url of [
    'http://127.0.0.1:7233/disk.qcow2',
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://10.0.0.1/disk.qcow2',
    'http://[::1]/disk.qcow2',
    'http://localhost/disk.qcow2',
  ]) {
    test(`a URL to ${new URL(url).hostname}`, () => refusedConvert({ url }, 'InputRefused', /not a public address/));
  }

  test('a redirect to loopback', () => refusedConvert({ url: redirector }, 'InputRefused', /redirects to/));

  test('a URL with credentials', () =>
    refusedConvert({ url: 'https://admin:hunter2@images.example/disk.qcow2' }, 'InvalidInput', /without credentials/));

  test('a vmdk whose extent points out of its folder', async () => {
    const vmdk = path.join(sources, `evil-${randomUUID().slice(0, 6)}.vmdk`);
    await writeFile(
      vmdk,
      `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 8 FLAT "${path.join(lab.secretsDir, 'x')}" 0\n`,
    );
    await refusedConvert({ path: vmdk }, 'DiskFormatUnsupported', /other files/);
  });

  test('random bytes named .qcow2', async () => {
    const file = path.join(sources, `random-${randomUUID().slice(0, 6)}.qcow2`);
    await writeFile(file, randomBytes(1024 * 1024));
    await refusedConvert({ path: file }, 'InputRefused', /header/);
  });

  test('/dev/zero as an installer', async () => {
    const input: WindowsImageInput = await windowsInput(lab, 'hostile-installer', {
      pvTools: { path: '/dev/zero', sha256: '0'.repeat(64) },
    });
    await refused('windowsImage', lab.taskQueue, input, 'InputRefused', /pvTools|installer/, true);
  });

  test('a product key naming a pool credential', async () => {
    const good = await windowsInput(lab, 'hostile-key');
    const input = { ...good, windows: { ...good.windows, productKey: { secret: lab.xapi.secretName } } };
    await refused('windowsImage', lab.taskQueue, input, 'SecretOutOfScope', /pool credential/, true);
  });
});
