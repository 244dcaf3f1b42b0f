// Everything a build workflow test stands on: the run's Temporal and Glance, a private XenServer lab (its own
// pool name, so the xen-<pool> task queue is this file's alone) with simulated Windows guests, lab installers,
// and workers for the general and the pool task queues. One per test file; torn down when the file ends.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { InstallerSource } from '../../src/contracts/installerSource.js';
import { attachWindowsGuests, type WindowsGuests } from '../../src/lab/guest/attach.js';
import { writeLabInstallers } from '../../src/lab/guest/labInstallers.js';
import { startXapiLab, type XapiLab } from '../../src/lab/xapi/index.js';
import type { ProductId } from '../../src/lab/xapi/setup/products.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import { ensureBuildKey } from '../../src/secrets.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { testDeps } from './deps.js';
import { testLogger } from './logger.js';
import { testOpenStack, type TestCloud } from './openstack.js';
import { onTeardown } from './teardown.js';
import { testClient, testTemporal } from './temporal.js';
import { startTestWorker } from './worker.js';

export interface BuildLab {
  dir: string;
  pool: string;
  xapi: XapiLab;
  guests: WindowsGuests;
  target: TemporalTarget;
  client: Client;
  openstack: TestCloud;
  /** The general task queue builds start on. */
  taskQueue: string;
  /** The environment of a `xenimage worker` process serving this lab (see workerProcess.ts). */
  workerEnv: Record<string, string>;
  installers: { pvTools: InstallerSource; cloudbaseInit: InstallerSource };
  /** The lab's secrets folder (its XAPI password, the build key, what putSecret wrote). */
  secretsDir: string;
  /** Writes a secret file the worker resolves by reference. */
  putSecret(name: string, value: string): Promise<{ secret: string }>;
  /** Files of the secrets folder that nobody configured (what a build would have left behind). */
  unexpectedSecrets(): Promise<string[]>;
  /** Stops the XAPI lab (and its guests) and starts it again on the same port and state, as a host restart does. */
  restartXapi(): Promise<void>;
}

export interface BuildLabOptions {
  scenario?: string;
  /** The pool's product (a scenario's `pool` is replaced, not merged, by the lab's own pool name). */
  product?: ProductId;
  faults?: { xapi?: unknown[]; guest?: unknown[] };
  speed?: number;
  /** Workers in this test process (default), or none: the test runs `xenimage worker` processes itself. */
  workers?: 'in-process' | 'none';
  /** Another Temporal than the run's shared dev server (e.g. one the test restarts). */
  temporal?: TemporalTarget;
}

/** Where a lab's inputs may read: its installers and, as an operator keeps them, its sources/ folder. */
function labSourceDirs(dir: string): string[] {
  return [path.join(dir, 'installers'), path.join(dir, 'sources')];
}

export async function startBuildLab(options: BuildLabOptions = {}): Promise<BuildLab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-build-'));
  onTeardown(() => rm(dir, { recursive: true, force: true }));
  const secretsDir = path.join(dir, 'secrets');
  const poolsFile = path.join(dir, 'pools.yaml');

  const suffix = randomUUID().slice(0, 8);
  const pool = `lab-${suffix}`;
  const [target, openstack] = await Promise.all([options.temporal ?? testTemporal(), testOpenStack()]);
  // The XAPI lab and its Windows guests; started again on the same port (same state folder) by restartXapi.
  const startPool = async (port?: number): Promise<{ xapi: XapiLab; guests: WindowsGuests }> => {
    const xapi = await startXapiLab({
      stateDir: dir,
      scenario: {
        name: `test-${suffix}`,
        extends: options.scenario ?? 'default',
        pool: { name: pool, ...(options.product ? { product: options.product } : {}) },
        ...(options.faults ? { faults: { xapi: options.faults.xapi ?? [], guest: options.faults.guest ?? [] } } : {}),
      },
      speed: options.speed ?? 0.01,
      poolsFile,
      secretsDir,
      log: testLogger(),
      ...(port ? { port } : {}),
    });
    const guests = await attachWindowsGuests(xapi.host, {
      stateDir: dir,
      guests: xapi.scenario.guests,
      faults: xapi.scenario.faults?.guest,
      // Windows' own ports: every lab has its own /24 of loopback addresses (derived from its port), and the
      // workflow reaches a guest where real Windows listens.
      log: testLogger(),
    });
    return { xapi, guests };
  };
  const { xapi, guests } = await startPool();
  onTeardown(async () => {
    await lab.guests.stop();
    await lab.xapi.stop();
  });
  // What `xenimage up` does: every worker of this lab derives the builds' generated secrets from this key.
  await ensureBuildKey(secretsDir, undefined, {});
  const configured = new Set(await readdir(secretsDir));

  const taskQueue = `build-${suffix}`;
  if ((options.workers ?? 'in-process') === 'in-process') {
    // One set of deps (the pools' connections) for both workers, closed after them.
    const deps = testDeps({
      stateDir: dir,
      secretsDir,
      poolsFile,
      cloudsFile: openstack.cloudsFile,
      sourceDirs: labSourceDirs(dir),
    });
    await startTestWorker(target, 'build', { taskQueue, deps });
    await startTestWorker(target, 'pool', { taskQueue: poolTaskQueue(pool), deps });
  }
  const client = await testClient(target);
  const installers = await writeLabInstallers(path.join(dir, 'installers'));
  const lab: BuildLab = {
    dir,
    pool,
    xapi,
    guests,
    target,
    client,
    openstack,
    taskQueue,
    workerEnv: {
      TEMPORAL_ADDRESS: target.address,
      TEMPORAL_NAMESPACE: target.namespace,
      XENIMAGE_TASK_QUEUE: taskQueue,
      XENIMAGE_STATE_DIR: dir,
      XENIMAGE_POOLS_FILE: poolsFile,
      XENIMAGE_SECRETS_DIR: secretsDir,
      OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
      XENIMAGE_SHUTDOWN_GRACE: '2s',
      XENIMAGE_SOURCE_DIRS: labSourceDirs(dir).join(':'),
    },
    installers,
    secretsDir,
    async putSecret(name, value) {
      await writeFile(path.join(secretsDir, name), value, { mode: 0o600 });
      configured.add(name);
      return { secret: name };
    },
    async unexpectedSecrets() {
      return (await readdir(secretsDir)).filter((name) => !configured.has(name));
    },
    async restartXapi() {
      const port = Number(new URL(lab.xapi.url).port);
      await lab.guests.stop();
      await lab.xapi.stop();
      Object.assign(lab, await startPool(port));
    },
  };
  return lab;
}
