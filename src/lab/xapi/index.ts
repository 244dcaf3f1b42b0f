// The XenServer lab: a XAPI server that behaves like a real pool for every call the engine makes, with real VDI
// bytes, a host API for the simulated guests, scheduled faults, and state that survives a restart.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { freePort } from '../../net/freePort.js';
import path from 'node:path';
import type { LabHostApi } from '../hostApi.js';
import { log as rootLog, type Logger } from '../../log.js';
import { registerSecretValue } from '../../secrets.js';
import { poolsFilePath, writePoolEntry } from '../../xapi/pools.js';
import { loadScenario } from '../scenarios/load.js';
import type { Scenario } from '../scenarios/schema.js';
import { scanIsoSr } from './api/storage.js';
import { newRef } from './db/database.js';
import { addressBaseFor, XapiLabCore, readStateFile, type PrivateState } from './core.js';
import { FaultPlan, type FiredFault, type XapiFault } from './faults.js';
import { listen, type HostListener } from './http/server.js';
import { domainHalted } from './lifecycle/power.js';
import { populate } from './setup/populate.js';

export type { XapiFault } from './faults.js';

export interface StartXapiLabOptions {
  /** The lab keeps its records and VDI files in `<stateDir>/xapi/`. */
  stateDir: string;
  /** A scenario name (src/lab/scenarios/NAME.json), a file path, or a scenario object. Default "default". */
  scenario?: string | object;
  /** Latency factor: 1 = realistic, 0.01 = tests. */
  speed?: number;
  /** Port of every host listener (each host has its own loopback address). Default: the previous one, else free. */
  port?: number;
  log?: Logger;
  /** Where the lab writes its pool entry. Default XENIMAGE_POOLS_FILE, else <stateDir>/pools.yaml. */
  poolsFile?: string;
  /** Where the lab writes its password secret. Default XENIMAGE_SECRETS_DIR, else <stateDir>/secrets. */
  secretsDir?: string;
  /** After a restart, VMs that were running keep running (a toolstack restart, default) or come back halted (a host reboot). */
  vmsAfterRestart?: 'keep' | 'halt';
}

export interface LabHostInfo {
  name: string;
  ref: string;
  address: string;
  url: string;
  master: boolean;
}

export interface LabDescription {
  pool: { name: string; ref: string; uuid: string; master: string };
  hosts: LabHostInfo[];
  srs: Array<{
    name: string;
    ref: string;
    uuid: string;
    type: string;
    contentType: string;
    path: string;
    default: boolean;
    tools: boolean;
  }>;
  networks: Array<{ name: string; ref: string; uuid: string; bridge: string }>;
  isos: Array<{ name: string; ref: string; uuid: string; sr: string; path: string; size: number }>;
  templates: Array<{ name: string; ref: string; uuid: string }>;
  vms: Array<{ name: string; ref: string; uuid: string; powerState: string; address: string }>;
}

export interface XapiLab {
  /** The current master's URL. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly host: LabHostApi;
  readonly poolName: string;
  readonly poolRef: string;
  readonly hosts: LabHostInfo[];
  /** A non-master host's URL (scenarios with two or more hosts). */
  readonly slaveUrl: string | undefined;
  readonly poolsFile: string;
  readonly secretsDir: string;
  /** The secret name of the password in `secretsDir` (`{secret: secretName}` in the pools file). */
  readonly secretName: string;
  readonly stateDir: string;
  /** The scenario as validated (its `guests` and `faults.guest` are for the simulated guests). */
  readonly scenario: Scenario;
  readonly faults: { inject(fault: XapiFault): void; clear(): void; readonly fired: readonly FiredFault[] };
  /** Ends every session now (clients then see SESSION_INVALID). */
  expireSessions(): void;
  describe(): LabDescription;
  stop(): Promise<void>;
}

function secretNameFor(pool: string): string {
  return `xapi-${pool}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 128);
}

async function startListeners(core: XapiLabCore, port: number, fixedPort: boolean): Promise<HostListener[]> {
  const hosts = core.hostRefs();
  for (let attempt = 0; ; attempt++) {
    const listeners: HostListener[] = [];
    try {
      let p = port;
      for (const host of hosts) {
        const l = await listen(core, host, core.hostAddress(host), p);
        listeners.push(l);
        p = l.port;
      }
      return listeners;
    } catch (err) {
      await Promise.all(listeners.map((l) => l.close()));
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!inUse || fixedPort || attempt >= 5) throw err;
      if (port !== 0) core.log.warn({ port }, 'the previous lab port is taken; using a new one');
      port = 0;
    }
  }
}

export async function startXapiLab(options: StartXapiLabOptions): Promise<XapiLab> {
  const log = (options.log ?? rootLog()).child({ component: 'xapi-lab' });
  const scenario = await loadScenario(options.scenario ?? 'default');
  const stateDir = path.resolve(options.stateDir);
  const xapiDir = path.join(stateDir, 'xapi');
  await mkdir(xapiDir, { recursive: true });
  const faults = new FaultPlan(scenario.faults.xapi);
  const existing = await readStateFile(xapiDir);
  let core: XapiLabCore;
  if (existing) {
    core = new XapiLabCore({
      xapiDir,
      poolRef: existing.poolRef,
      speed: options.speed ?? 1,
      log,
      faults,
      privateState: existing.private,
      sessionIdleTimeoutMs: scenario.sessionIdleTimeoutMs,
    });
    core.db.load(existing.db);
    for (const [sr, row] of core.db.rows('SR')) if (row.type === 'iso') await scanIsoSr(core, sr);
    if (options.vmsAfterRestart === 'halt') {
      for (const [vm, row] of core.db.rows('VM')) {
        if (row.is_control_domain !== true && row.power_state !== 'Halted') domainHalted(core, vm, 'api', true);
      }
    }
    log.info({ scenario: existing.private.scenario }, 'lab state loaded');
  } else {
    const hostAddresses = scenario.hosts.map((h, i) => h.address ?? `127.0.0.${i + 1}`);
    // The port is chosen first: it also names the lab's VM address range.
    const port = options.port ?? (await freePort(hostAddresses[0]!));
    const privateState: PrivateState = {
      scenario: scenario.name,
      port,
      addressBase: addressBaseFor(port),
      credentials: {
        username: scenario.credentials.username,
        password: scenario.credentials.password ?? randomBytes(18).toString('base64url'),
      },
      nextDomid: 1,
      addresses: {},
      nextAddress: 1,
      hostAddresses: {},
    };
    core = new XapiLabCore({
      xapiDir,
      poolRef: newRef(),
      speed: options.speed ?? 1,
      log,
      faults,
      privateState,
      sessionIdleTimeoutMs: scenario.sessionIdleTimeoutMs,
    });
    const { hostRefs } = await populate(core, scenario, hostAddresses);
    hostRefs.forEach((ref, i) => (privateState.hostAddresses[ref] = hostAddresses[i]!));
  }
  const { credentials } = core.private;
  registerSecretValue(credentials.password);

  const listeners = await startListeners(core, options.port ?? core.private.port, options.port !== undefined);
  const port = listeners[0]!.port;
  core.private.port = port;
  core.enablePersistence();
  await core.persist();

  const pool = core.db.require('pool', core.poolRef);
  const poolName = pool.name_label as string;
  const poolsFile = options.poolsFile ?? poolsFilePath(stateDir);
  const secretsDir = path.resolve(
    options.secretsDir ?? process.env.XENIMAGE_SECRETS_DIR ?? path.join(stateDir, 'secrets'),
  );
  const secretName = secretNameFor(poolName);
  const urlOf = (host: string) => `http://${core.hostAddress(host)}:${port}`;
  await mkdir(secretsDir, { recursive: true });
  await writeFile(path.join(secretsDir, secretName), credentials.password, { mode: 0o600 });
  await writePoolEntry(poolsFile, poolName, {
    url: urlOf(core.masterRef()),
    username: credentials.username,
    password: { secret: secretName },
  });

  const hostInfos = (): LabHostInfo[] =>
    core.hostRefs().map((ref) => ({
      name: core.db.get('host', ref)?.name_label as string,
      ref,
      address: core.hostAddress(ref),
      url: urlOf(ref),
      master: ref === core.masterRef(),
    }));

  let stopped = false;
  const lab: XapiLab = {
    get url() {
      return urlOf(core.masterRef());
    },
    username: credentials.username,
    password: credentials.password,
    host: core.guests,
    poolName,
    poolRef: core.poolRef,
    get hosts() {
      return hostInfos();
    },
    get slaveUrl() {
      return hostInfos().find((h) => !h.master)?.url;
    },
    poolsFile,
    secretsDir,
    secretName,
    stateDir,
    scenario,
    faults: {
      inject: (f) => faults.inject(f),
      clear: () => faults.clear(),
      get fired() {
        return faults.fired;
      },
    },
    expireSessions: () => core.sessions.expireAll(),
    describe: () => describe(core, hostInfos()),
    async stop() {
      if (stopped) return;
      stopped = true;
      core.beginShutdown();
      // Let answers to the long polls just ended reach their clients before the sockets go.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await Promise.all(listeners.map((l) => l.close()));
      await core.shutdown();
      log.info('lab stopped');
    },
  };
  log.info({ url: lab.url, pool: poolName, scenario: scenario.name }, 'XAPI lab ready');
  return lab;
}

function describe(core: XapiLabCore, hosts: LabHostInfo[]): LabDescription {
  const { db } = core;
  const pool = db.require('pool', core.poolRef);
  const vms = db.rows('VM');
  return {
    pool: {
      name: pool.name_label as string,
      ref: core.poolRef,
      uuid: pool.uuid as string,
      master: pool.master as string,
    },
    hosts,
    srs: db.rows('SR').map(([ref, sr]) => ({
      name: sr.name_label as string,
      ref,
      uuid: sr.uuid as string,
      type: sr.type as string,
      contentType: sr.content_type as string,
      path: core.vdis.srDir(sr.uuid as string),
      default: pool.default_SR === ref,
      tools: sr.is_tools_sr === true,
    })),
    networks: db
      .rows('network')
      .map(([ref, n]) => ({ name: n.name_label as string, ref, uuid: n.uuid as string, bridge: n.bridge as string })),
    isos: db
      .rows('VDI')
      .filter(([, v]) => db.get('SR', v.SR as string)?.type === 'iso')
      .map(([ref, v]) => {
        const sr = db.require('SR', v.SR as string);
        return {
          name: v.name_label as string,
          ref,
          uuid: v.uuid as string,
          sr: sr.name_label as string,
          path: path.join(core.vdis.srDir(sr.uuid as string), v.location as string),
          size: v.virtual_size as number,
        };
      }),
    templates: vms
      .filter(([, v]) => v.is_a_template === true && v.is_a_snapshot !== true)
      .map(([ref, v]) => ({ name: v.name_label as string, ref, uuid: v.uuid as string })),
    vms: vms
      .filter(([, v]) => v.is_a_template !== true && v.is_control_domain !== true)
      .map(([ref, v]) => ({
        name: v.name_label as string,
        ref,
        uuid: v.uuid as string,
        powerState: v.power_state as string,
        address: core.vmAddress(ref),
      })),
  };
}
