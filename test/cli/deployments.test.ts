// Safe worker upgrades (Worker Versioning) against the real dev server and Glance: a build runs on release A
// (`xenimage worker --deployment D --build-id A`, pinned); release B with a changed convertImage starts and is made
// current with `xenimage deployment set-current`; the build finishes on A (its history shows A's build ID and A's
// code), a new build runs on B; `xenimage deployment describe` shows A draining with its build, then drained.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { DeploymentView } from '../../src/temporal/deployments.js';
import { serveDir } from '../disk/httpServer.js';
import { runCli } from '../helpers/cli.js';
import { testOpenStack, type TestCloud } from '../helpers/openstack.js';
import { onTeardown } from '../helpers/teardown.js';
import { testClient, testTemporal, uniqueTaskQueue } from '../helpers/temporal.js';
import { waitFor } from '../helpers/waitFor.js';
import { startTestWorker } from '../helpers/worker.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/workerProcess.js';

const run = promisify(execFile);
const RELEASE_B = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'releaseB.js');

/** A loopback server in front of the test's files that holds every request until released. */
async function gatedSource(
  dir: string,
): Promise<{ url: (name: string) => string; seen: () => number; release(): void }> {
  const files = await serveDir(dir);
  onTeardown(() => files.close());
  let release!: () => void;
  const open = new Promise<void>((resolve) => (release = resolve));
  let seen = 0;
  const server = http.createServer((req, res) => {
    seen++;
    void open.then(() => {
      const upstream = http.request(files.url(path.basename(req.url ?? '/')), {
        method: req.method,
        headers: req.headers,
      });
      upstream.on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTeardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: (name) => `http://127.0.0.1:${port}/${name}`, seen: () => seen, release };
}

interface Versioned {
  /** The build IDs of the workers that completed the build's workflow tasks. */
  workflowTaskBuildIds: string[];
  /** The worker identities that started its activities. */
  activityWorkers: string[];
  timers: number;
}

async function versionsIn(handle: WorkflowHandle): Promise<Versioned> {
  const events = (await handle.fetchHistory()).events ?? [];
  return {
    workflowTaskBuildIds: [
      ...new Set(
        events
          .filter((e) => e.workflowTaskCompletedEventAttributes)
          .map((e) => e.workflowTaskCompletedEventAttributes!.deploymentVersion?.buildId ?? '(none)'),
      ),
    ],
    activityWorkers: [
      ...new Set(
        events
          .filter((e) => e.activityTaskStartedEventAttributes)
          .map((e) => e.activityTaskStartedEventAttributes!.identity ?? ''),
      ),
    ],
    timers: events.filter((e) => e.timerStartedEventAttributes).length,
  };
}

describe('worker versioning: a build stays on the release that started it', () => {
  let client: Client;
  let openstack: TestCloud;
  let env: Record<string, string>;
  let dir: string;
  let deployment: string;

  before(async () => {
    const [target, cloud] = await Promise.all([testTemporal(), testOpenStack()]);
    openstack = cloud;
    client = await testClient(target);
    dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-deployments-'));
    onTeardown(() => rm(dir, { recursive: true, force: true }));
    deployment = `xenimage-test-${randomUUID().slice(0, 8)}`;
    env = {
      TEMPORAL_ADDRESS: target.address,
      TEMPORAL_NAMESPACE: target.namespace,
      XENIMAGE_TASK_QUEUE: uniqueTaskQueue('deployments'),
      XENIMAGE_STATE_DIR: path.join(dir, 'state'),
      OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
      XENIMAGE_SOURCE_DIRS: dir,
      XENIMAGE_NETWORK_ALLOW: '127.0.0.0/8',
    };
    const disk = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 1M 1M', disk]);
  });

  async function describeDeployment(): Promise<DeploymentView> {
    const described = await runCli(['deployment', 'describe', deployment, '--json'], env);
    assert.equal(described.code, 0, described.stderr);
    return JSON.parse(described.stdout) as DeploymentView;
  }

  async function writeInput(name: string, source: object): Promise<string> {
    const file = path.join(dir, `${name}.json`);
    const image = { name: `${name}-${randomUUID().slice(0, 6)}` };
    await writeFile(file, JSON.stringify({ source, image, vmMode: 'hvm', osType: 'linux', cloud: openstack.cloud }));
    return file;
  }

  test('rollout: set B current while a build runs on A; it finishes on A, the next build runs on B', async () => {
    // Release A, as operators run it.
    const workerA: WorkerProcess = startWorkerProcess(env, [], ['--deployment', deployment, '--build-id', 'A']);
    await workerA.ready;
    // The version exists once its workers polled; until it is current no build starts anywhere.
    await waitFor(
      'version A to take new builds',
      async () => (await runCli(['deployment', 'set-current', deployment, 'A'], env)).code === 0,
      60_000,
      500,
    );

    const source = await gatedSource(dir);
    const idA = `deploy-a-${randomUUID().slice(0, 8)}`;
    const inputA = await writeInput('on-a', { url: source.url('disk.qcow2') });
    const startedA = await runCli(['build', 'convert', inputA, '--id', idA], env);
    assert.equal(startedA.code, 0, startedA.stderr);
    await waitFor('the build on A to read its source', () => source.seen() > 0, 60_000, 100);

    // Release B: a changed workflow, started while the build on A is mid-activity.
    await startTestWorker({ address: env.TEMPORAL_ADDRESS!, namespace: env.TEMPORAL_NAMESPACE! }, 'deployments', {
      taskQueue: env.XENIMAGE_TASK_QUEUE!,
      cloudsFile: openstack.cloudsFile,
      sourceDirs: [dir],
      deployment: { deploymentName: deployment, buildId: 'B' },
      workflowsPath: RELEASE_B,
    });
    await waitFor(
      'version B to be current',
      async () => (await runCli(['deployment', 'set-current', deployment, 'B'], env)).code === 0,
      60_000,
      500,
    );
    const during = await waitFor(
      'describe to show the build still on A',
      async () => {
        const view = await describeDeployment();
        const a = view.versions.find((v) => v.buildId === 'A');
        return a?.runningBuilds === 1 ? view : undefined;
      },
      30_000,
      300,
    );
    assert.equal(during.current, 'B');
    const a = during.versions.find((v) => v.buildId === 'A')!;
    assert.equal(a.status, 'draining');
    assert.equal(a.drained, false, 'a version with a running build is not drained');

    source.release();
    const handleA = client.workflow.getHandle(idA);
    const resultA = (await handleA.result()) as { imageId: string };
    assert.ok(resultA.imageId, 'the build on A completed');
    const onA = await versionsIn(handleA);
    assert.deepEqual(onA.workflowTaskBuildIds, ['A'], "every workflow task of the first build ran on A's workers");
    assert.equal(onA.timers, 0, "the first build ran A's code (B's adds a timer)");
    assert.ok(
      onA.activityWorkers.every((w) => w.startsWith(`${workerA.child.pid}@`)),
      `A's worker process ran every activity of the first build: ${onA.activityWorkers.join(', ')}`,
    );

    const idB = `deploy-b-${randomUUID().slice(0, 8)}`;
    const inputB = await writeInput('on-b', { path: path.join(dir, 'disk.qcow2') });
    const builtB = await runCli(['build', 'convert', inputB, '--id', idB, '--wait'], env);
    assert.equal(builtB.code, 0, builtB.stderr);
    const onB = await versionsIn(client.workflow.getHandle(idB));
    assert.deepEqual(onB.workflowTaskBuildIds, ['B'], 'the new build ran on B');
    assert.equal(onB.timers, 1, "the new build ran B's changed code");
    assert.ok(
      onB.activityWorkers.every((w) => !w.startsWith(`${workerA.child.pid}@`)),
      "no activity of the new build ran on A's workers",
    );

    // Drained: not current, nothing running; describe says A's workers may stop (after visibility's grace).
    await waitFor(
      'A to be drained',
      async () => (await describeDeployment()).versions.find((v) => v.buildId === 'A')?.drained === true,
      120_000,
      1000,
    );
    const text = await runCli(['deployment', 'describe', deployment], env);
    assert.match(text.stdout, /^A: drained, its workers may be stopped$/m);
    await workerA.kill('SIGTERM');
  });

  test('bad words are refused before anything changes', async () => {
    const both = await runCli(['worker', '--deployment', deployment], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /InvalidInput: --deployment and --build-id go together/);
    const name = await runCli(['deployment', 'set-current', 'a.b', 'A'], env);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /InvalidInput: deployment name "a\.b"/);
    const unknown = await runCli(['deployment', 'describe', `nope-${randomUUID().slice(0, 8)}`], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /DeploymentNotFound: no worker deployment/);
    const ramp = await runCli(['deployment', 'ramp', deployment, 'A', '150'], env);
    assert.equal(ramp.code, 2);
    assert.match(ramp.stderr, /InvalidInput: ramp percentage 150/);
  });
});
