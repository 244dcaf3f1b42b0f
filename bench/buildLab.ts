// What the build benchmarks (scale, chaos) stand on: a Temporal dev server, the lab's Keystone + Glance, a XenServer
// lab with simulated Windows guests at a chosen speed, the installers and the secrets, and `xenimage worker`
// processes as operators run them (so their memory is theirs and they can be SIGKILLed).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { InstallerSource } from '../src/contracts/installerSource.js';
import type { WindowsImageInput } from '../src/contracts/windowsInput.js';
import { attachWindowsGuests, type WindowsGuests } from '../src/lab/guest/attach.js';
import { writeLabInstallers } from '../src/lab/guest/labInstallers.js';
import { LAB_CLOUD, startOpenStack, type OpenStackLab } from '../src/lab/openstack/index.js';
import { startXapiLab, type XapiLab } from '../src/lab/xapi/index.js';
import { createLogger } from '../src/log.js';
import { ensureBuildKey } from '../src/secrets.js';
import { startDevServer, type DevServer } from '../src/temporal/devServer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../src/cli/main.js');
const logger = createLogger({ level: 'warn' });

export interface WorkerProc {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
  /** Peak resident memory (VmHWM, bytes) read from /proc while the process lives. */
  peakRss(): Promise<number>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** A machine that runs workers: its own state folder and its own copy of the configured secrets. */
export interface Machine {
  name: string;
  stateDir: string;
  secretsDir: string;
}

export interface BenchLab {
  dir: string;
  pool: string;
  taskQueue: string;
  temporal: DevServer;
  client: Client;
  openstack: OpenStackLab;
  xapi: XapiLab;
  guests: WindowsGuests;
  installers: { pvTools: InstallerSource; cloudbaseInit: InstallerSource };
  /** The first machine (the lab's own folders); `machine()` makes more. */
  home: Machine;
  machine(name: string): Promise<Machine>;
  startWorker(machine: Machine, extraEnv?: Record<string, string>): WorkerProc;
  /** Names the machines' secrets folders hold beyond what was configured. */
  leftoverSecrets(): Promise<string[]>;
  restartXapi(): Promise<void>;
  restartTemporal(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchLab(options: { speed: number; scenario?: string }): Promise<BenchLab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-bench-'));
  const secretsDir = path.join(dir, 'secrets');
  const poolsFile = path.join(dir, 'pools.yaml');
  const suffix = randomUUID().slice(0, 8);
  const pool = `bench-${suffix}`;
  const temporalDir = path.join(dir, 'temporal-state');
  let temporal = await startDevServer({ stateDir: temporalDir, namespace: 'default', port: 0, uiPort: 0, logger });
  const openstack = await startOpenStack({ stateDir: path.join(dir, 'openstack-state'), log: logger });
  const startPool = async (port?: number) => {
    const xapi = await startXapiLab({
      stateDir: dir,
      scenario: { name: `bench-${suffix}`, extends: options.scenario ?? 'existing-vms', pool: { name: pool } },
      speed: options.speed,
      poolsFile,
      secretsDir,
      log: logger,
      ...(port ? { port } : {}),
    });
    const guests = await attachWindowsGuests(xapi.host, {
      stateDir: dir,
      guests: xapi.scenario.guests,
      faults: xapi.scenario.faults?.guest,
      log: logger,
    });
    return { xapi, guests };
  };
  const started = await startPool();
  await ensureBuildKey(secretsDir, undefined, {});
  await writeFile(path.join(secretsDir, 'builder-admin'), 'Xen!mage-Adm1n-Pw-7', { mode: 0o600 });
  const configured = new Set(await readdir(secretsDir));
  const installers = await writeLabInstallers(path.join(dir, 'installers'));
  let connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = `bench-${suffix}`;
  const home: Machine = { name: 'home', stateDir: dir, secretsDir };
  const machines: Machine[] = [home];

  const lab: BenchLab = {
    dir,
    pool,
    taskQueue,
    temporal,
    client,
    openstack,
    xapi: started.xapi,
    guests: started.guests,
    installers,
    home,
    async machine(name) {
      const stateDir = path.join(dir, `machine-${name}`);
      await mkdir(stateDir, { recursive: true });
      const own = path.join(stateDir, 'secrets');
      // Its own copy of the configured secrets only: never the first machine's folder.
      await cp(secretsDir, own, { recursive: true });
      for (const f of await readdir(own)) if (!configured.has(f)) await rm(path.join(own, f));
      const m = { name, stateDir, secretsDir: own };
      machines.push(m);
      return m;
    },
    startWorker(machine, extraEnv = {}) {
      return spawnWorker(
        {
          TEMPORAL_ADDRESS: lab.temporal.address,
          TEMPORAL_NAMESPACE: 'default',
          XENIMAGE_TASK_QUEUE: taskQueue,
          XENIMAGE_STATE_DIR: machine.stateDir,
          XENIMAGE_POOLS_FILE: poolsFile,
          XENIMAGE_SECRETS_DIR: machine.secretsDir,
          OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
          XENIMAGE_SHUTDOWN_GRACE: '2s',
          XENIMAGE_LOG_LEVEL: 'info',
          ...extraEnv,
        },
        pool,
      );
    },
    async leftoverSecrets() {
      const left: string[] = [];
      for (const m of machines)
        for (const f of await readdir(m.secretsDir).catch(() => [] as string[]))
          if (!configured.has(f)) left.push(`${m.name}:${f}`);
      return left;
    },
    async restartXapi() {
      const port = Number(new URL(lab.xapi.url).port);
      await lab.guests.stop();
      await lab.xapi.stop();
      const again = await startPool(port);
      lab.xapi = again.xapi;
      lab.guests = again.guests;
    },
    async restartTemporal() {
      const port = Number(lab.temporal.address.split(':').pop());
      await lab.temporal.stop();
      temporal = await startDevServer({ stateDir: temporalDir, namespace: 'default', port, uiPort: 0, logger });
      lab.temporal = temporal;
      await connection.close().catch(() => undefined);
      connection = await Connection.connect({ address: temporal.address });
      (lab as { client: Client }).client = new Client({ connection, namespace: 'default' });
    },
    async stop() {
      await connection.close().catch(() => undefined);
      await lab.guests.stop().catch(() => undefined);
      await lab.xapi.stop().catch(() => undefined);
      await openstack.stop().catch(() => undefined);
      await lab.temporal.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

function spawnWorker(env: Record<string, string>, pool: string): WorkerProc {
  const child = spawn(process.execPath, [CLI, 'worker', '--pool', pool], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const collect = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-20_000);
    if (text.includes('workers running')) onReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let peak = 0;
  const sample = async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    } catch {
      // gone
    }
  };
  const timer = setInterval(() => void sample(), 1000);
  void exited.then(() => clearInterval(timer));
  return {
    child,
    ready: Promise.race([
      ready,
      exited.then(() => Promise.reject(new Error(`worker exited before it was ready:\n${text}`))),
    ]),
    exited,
    async peakRss() {
      await sample();
      return peak;
    },
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A Windows build input on the bench lab's pool and media (as test/helpers/builds.ts makes them). */
export function windowsInput(lab: BenchLab, image: string): WindowsImageInput {
  return {
    pool: lab.pool,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    windows: { imageName: 'Windows Server 2022 Standard Evaluation' },
    administrator: { name: 'builder', password: { secret: 'builder-admin' } },
    pvTools: lab.installers.pvTools,
    cloudbaseInit: lab.installers.cloudbaseInit,
    image: { name: image, properties: { os_distro: 'windows' } },
    cloud: LAB_CLOUD,
    tuning: { retryInitialInterval: '2s', maxRetryInterval: '20s', heartbeatTimeout: '30s' },
  };
}
