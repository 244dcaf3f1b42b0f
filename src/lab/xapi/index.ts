// The XenServer lab: a XAPI server that behaves like a real pool for every call the engine makes, with real VDI
// bytes, a host API for the simulated guests, scheduled faults, and state that survives a restart. A scenario
// started on existing state adds what it has to the pool, or is refused when it describes another pool
// (setup/existingState.ts). The root password is kept only as a salted hash; the clear one goes to a 0600 file.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../../errors.js';
import { log as rootLog, type Logger } from '../../log.js';
import { freePort } from '../../net/freePort.js';
import { registerSecretValue } from '../../secrets.js';
import type { LabHostApi } from '../hostApi.js';
import { loadScenario } from '../scenarios/load.js';
import type { Scenario } from '../scenarios/schema.js';
import { hashPassword, verifyPassword } from './api/passwordHash.js';
import { scanIsoSr } from './api/storage.js';
import { newRef } from './db/database.js';
import { addressBaseFor, XapiLabCore, readStateFile, type PrivateState } from './core.js';
import { FaultPlan, type FiredFault, type XapiFault } from './faults.js';
import { listen, type HostListener } from './http/server.js';
import { labTls } from './http/tls.js';
import { domainHalted } from './lifecycle/power.js';
import {
  applyToState,
  conflictsWithState,
  nothingAdded,
  scenarioHostAddress,
  type ScenarioAdditions,
} from './setup/existingState.js';
import { populate } from './setup/populate.js';
import { defaultPoolsFile, writeLabPoolEntry } from './setup/poolsEntry.js';
import { PRODUCTS, type ProductId } from './setup/products.js';

export type { XapiFault } from './faults.js';
export type { ScenarioAdditions } from './setup/existingState.js';

export interface StartXapiLabOptions {
  /** The lab keeps its records and VDI files in `<stateDir>/xapi/`. */
  stateDir: string;
  /** A scenario name (src/lab/scenarios/NAME.json), a file path, or a scenario object. Default "default". */
  scenario?: string | object;
  /** Start from an empty pool: the lab's state (`<stateDir>/xapi/`) is removed first. */
  fresh?: boolean;
  /** Latency factor: 1 = realistic, 0.01 = tests. */
  speed?: number;
  /** Port of every host's HTTP listener (each host has its own loopback address). Default: the previous one, else free. */
  port?: number;
  log?: Logger;
  /** Where the lab writes its pool entry. Default XENIMAGE_POOLS_FILE, else <stateDir>/pools.yaml. */
  poolsFile?: string;
  /** Where the lab writes its password secret. Default XENIMAGE_SECRETS_DIR, else <stateDir>/secrets. */
  secretsDir?: string;
  /** After a restart, VMs that were running keep running (a toolstack restart, default) or come back halted (a host reboot). */
  vmsAfterRestart?: 'keep' | 'halt';
}

/** What starting did with the state folder. */
export interface LabStateOutcome {
  /** `fresh`: a new pool; `resumed`: the state as it was; `applied`: the scenario added to the state. */
  action: 'fresh' | 'resumed' | 'applied';
  /** The scenario started now. */
  scenario: string;
  /** The scenario the state was made by. */
  madeBy: string;
  /** Scenarios applied to the state since it was made (this one included when it added something). */
  applied: string[];
  added: ScenarioAdditions;
}

export interface LabHostInfo {
  name: string;
  ref: string;
  address: string;
  url: string;
  httpsUrl: string;
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
  vms: Array<{
    name: string;
    ref: string;
    uuid: string;
    powerState: string;
    address: string;
    extraAddresses: Array<{ device: string; family: 'ipv4' | 'ipv6'; address: string }>;
  }>;
}

export interface XapiLab {
  /** The current master's plain-HTTP URL (a XenServer host serves both). */
  readonly url: string;
  /** The current master's HTTPS URL, verified with `caFile` (what the pools entry names). */
  readonly httpsUrl: string;
  /** The pool's CA certificate (PEM). */
  readonly caFile: string;
  readonly username: string;
  /** The root password, as written to `passwordFile` (the state keeps only its salted hash). */
  readonly password: string;
  /** The 0600 file holding the root password (`<secretsDir>/<secretName>`). */
  readonly passwordFile: string;
  /** What starting did with the state folder (fresh, resumed, or the scenario applied to it). */
  readonly state: LabStateOutcome;
  readonly host: LabHostApi;
  readonly poolName: string;
  readonly poolRef: string;
  readonly hosts: LabHostInfo[];
  /** A non-master host's URL (scenarios with two or more hosts). */
  readonly slaveUrl: string | undefined;
  /** The pool's product (docs/lab.md, "Products"). */
  readonly product: ProductId;
  readonly poolsFile: string;
  readonly secretsDir: string;
  /** The secret name of the password in `secretsDir` (`{secret: secretName}` in the pools file). */
  readonly secretName: string;
  readonly stateDir: string;
  /** The scenario as validated (its `guests` and `faults.guest` are for the simulated guests). */
  readonly scenario: Scenario;
  readonly faults: { inject(fault: XapiFault): void; clear(): void; readonly fired: readonly FiredFault[] };
  /** RPC calls received since the lab started, by method. */
  calls(): Record<string, number>;
  /** Ends every session now (clients then see SESSION_INVALID). */
  expireSessions(): void;
  describe(): LabDescription;
  stop(): Promise<void>;
}

function secretNameFor(pool: string): string {
  return `xapi-${pool}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 128);
}

async function startListeners(
  core: XapiLabCore,
  port: number,
  fixedPort: boolean,
  tls?: { cert: string; key: string },
): Promise<HostListener[]> {
  const hosts = core.hostRefs();
  for (let attempt = 0; ; attempt++) {
    const listeners: HostListener[] = [];
    try {
      let p = port;
      for (const host of hosts) {
        const l = await listen(core, host, core.hostAddress(host), p, tls);
        listeners.push(l);
        p = l.port;
      }
      return listeners;
    } catch (err) {
      await Promise.all(listeners.map((l) => l.close()));
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!inUse || fixedPort || attempt >= 5) throw err;
      if (port !== 0) core.log.warn({ port, tls: !!tls }, 'the previous lab port is taken; using a new one');
      port = 0;
    }
  }
}

async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

async function readPasswordFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

const EMPTY_ADDITIONS: ScenarioAdditions = { hosts: [], srs: [], isos: [], networks: [], templates: [], vms: [] };

function refusal(stateFile: string, madeBy: string, scenario: Scenario, reasons: string[]): InvalidInputError {
  return new InvalidInputError(
    `the lab state in ${stateFile} holds the pool of scenario "${madeBy}"; scenario "${scenario.name}" describes ` +
      `another pool (${reasons.join('; ')}). Start it fresh with --fresh (this deletes the lab's pool, VMs and ` +
      `disks in that folder), or use another state folder.`,
    { scenario: scenario.name, stateScenario: madeBy, reasons },
  );
}

export async function startXapiLab(options: StartXapiLabOptions): Promise<XapiLab> {
  const log = (options.log ?? rootLog()).child({ component: 'xapi-lab' });
  const scenario = await loadScenario(options.scenario ?? 'default');
  const stateDir = path.resolve(options.stateDir);
  const xapiDir = path.join(stateDir, 'xapi');
  if (options.fresh) await rm(xapiDir, { recursive: true, force: true });
  const faults = new FaultPlan(scenario.faults.xapi);
  const loaded = await readStateFile(xapiDir, hashPassword);
  const secretsDir = path.resolve(
    options.secretsDir ?? (process.env.XENIMAGE_SECRETS_DIR || path.join(stateDir, 'secrets')),
  );
  let core: XapiLabCore;
  /** The clear root password, when this start knows it (a new pool, a migrated state, a scenario's). */
  let password: string | undefined;
  let outcome: LabStateOutcome;
  if (loaded) {
    const { state } = loaded;
    const product = PRODUCTS[state.private.product as ProductId];
    if (!product) throw new Error(`lab state ${xapiDir} is of an unknown product "${state.private.product}"`);
    core = new XapiLabCore({
      xapiDir,
      product,
      vmAddresses: scenario.vmAddresses,
      poolRef: state.poolRef,
      speed: options.speed ?? 1,
      log,
      faults,
      privateState: state.private,
      sessionIdleTimeoutMs: scenario.sessionIdleTimeoutMs,
    });
    core.db.load(state.db);
    const madeBy = core.private.scenario;
    const reasons = await conflictsWithState(core, scenario);
    if (reasons.length) throw refusal(path.join(xapiDir, 'state.json'), madeBy, scenario, reasons);
    password = loaded.migratedPassword;
    for (const [sr, row] of core.db.rows('SR')) if (row.type === 'iso') await scanIsoSr(core, sr);
    if (options.vmsAfterRestart === 'halt') {
      for (const [vm, row] of core.db.rows('VM')) {
        if (row.is_control_domain !== true && row.power_state !== 'Halted') domainHalted(core, vm, 'api', true);
      }
    }
    const added = await applyToState(core, scenario);
    const applied = !nothingAdded(added);
    if (applied) core.private.applied.push(scenario.name);
    outcome = {
      action: applied ? 'applied' : 'resumed',
      scenario: scenario.name,
      madeBy,
      applied: [...core.private.applied],
      added,
    };
    log.info(
      { scenario: scenario.name, madeBy, added },
      applied ? 'scenario applied to the lab state' : 'lab state loaded',
    );
  } else {
    const hostAddresses = scenario.hosts.map((_, i) => scenarioHostAddress(scenario, i));
    // The port is chosen first: it also names the lab's VM address range.
    const port = options.port ?? (await freePort(hostAddresses[0]!));
    password = scenario.credentials.password ?? randomBytes(18).toString('base64url');
    const privateState: PrivateState = {
      scenario: scenario.name,
      applied: [],
      product: scenario.pool.product,
      port,
      httpsPort: 0,
      addressBase: addressBaseFor(port),
      credentials: { username: scenario.credentials.username, passwordHash: await hashPassword(password) },
      nextDomid: 1,
      addresses: {},
      extraAddresses: {},
      nextAddress: 1,
      nextIpv6: 1,
      hostAddresses: {},
    };
    await privateDir(xapiDir);
    core = new XapiLabCore({
      xapiDir,
      product: PRODUCTS[scenario.pool.product],
      vmAddresses: scenario.vmAddresses,
      poolRef: newRef(),
      speed: options.speed ?? 1,
      log,
      faults,
      privateState,
      sessionIdleTimeoutMs: scenario.sessionIdleTimeoutMs,
    });
    const { hostRefs } = await populate(core, scenario, hostAddresses);
    hostRefs.forEach((ref, i) => (privateState.hostAddresses[ref] = hostAddresses[i]!));
    outcome = { action: 'fresh', scenario: scenario.name, madeBy: scenario.name, applied: [], added: EMPTY_ADDITIONS };
  }
  await privateDir(xapiDir);

  const pool = core.db.require('pool', core.poolRef);
  const poolName = pool.name_label as string;
  const secretName = secretNameFor(poolName);
  const passwordFile = path.join(secretsDir, secretName);
  const { credentials } = core.private;
  if (password === undefined) {
    // A restart: the password is the operator's copy in the 0600 file, checked against the hash.
    const stored = await readPasswordFile(passwordFile);
    if (stored !== undefined && (await verifyPassword(stored, credentials.passwordHash))) password = stored;
    else {
      // As an administrator resets a host's lost root password: a new one, written where the old one was.
      password = randomBytes(18).toString('base64url');
      credentials.passwordHash = await hashPassword(password);
      log.warn({ passwordFile }, "the lab's root password file was missing or stale: a new root password was set");
    }
  }
  registerSecretValue(password);
  await privateDir(secretsDir);
  await writeFile(passwordFile, password, { mode: 0o600 });
  await chmod(passwordFile, 0o600);

  const tls = await labTls(
    xapiDir,
    poolName,
    core.hostRefs().map((h) => core.hostAddress(h)),
  );
  const listeners = await startListeners(core, options.port ?? core.private.port, options.port !== undefined);
  const port = listeners[0]!.port;
  let tlsListeners: HostListener[];
  try {
    tlsListeners = await startListeners(core, core.private.httpsPort, false, tls);
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  const httpsPort = tlsListeners[0]!.port;
  core.private.port = port;
  core.private.httpsPort = httpsPort;
  core.enablePersistence();
  await core.persist();

  const poolsFile = options.poolsFile ?? defaultPoolsFile(stateDir);
  const urlOf = (host: string) => `http://${core.hostAddress(host)}:${port}`;
  const httpsUrlOf = (host: string) => `https://${core.hostAddress(host)}:${httpsPort}`;
  await writeLabPoolEntry(poolsFile, poolName, {
    url: httpsUrlOf(core.masterRef()),
    username: credentials.username,
    password: { secret: secretName },
    ca: tls.caFile,
  });

  const hostInfos = (): LabHostInfo[] =>
    core.hostRefs().map((ref) => ({
      name: core.db.get('host', ref)?.name_label as string,
      ref,
      address: core.hostAddress(ref),
      url: urlOf(ref),
      httpsUrl: httpsUrlOf(ref),
      master: ref === core.masterRef(),
    }));

  let stopped = false;
  const rootPassword = password;
  const lab: XapiLab = {
    get url() {
      return urlOf(core.masterRef());
    },
    get httpsUrl() {
      return httpsUrlOf(core.masterRef());
    },
    caFile: tls.caFile,
    username: credentials.username,
    password: rootPassword,
    passwordFile,
    state: outcome,
    host: core.guests,
    poolName,
    poolRef: core.poolRef,
    product: core.product.id,
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
    calls: () => Object.fromEntries(faults.calls),
    expireSessions: () => core.sessions.expireAll(),
    describe: () => describe(core, hostInfos()),
    async stop() {
      if (stopped) return;
      stopped = true;
      core.beginShutdown();
      // Let answers to the long polls just ended reach their clients before the sockets go.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await Promise.all([...listeners, ...tlsListeners].map((l) => l.close()));
      await core.shutdown();
      log.info('lab stopped');
    },
  };
  log.info(
    { url: lab.url, httpsUrl: lab.httpsUrl, pool: poolName, scenario: scenario.name, state: outcome.action },
    'XAPI lab ready',
  );
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
        extraAddresses: core.vmExtraAddresses(ref),
      })),
  };
}
