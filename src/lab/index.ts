// The embedded default: everything `xenimage lab` and `xenimage up` run on one machine — the Temporal dev
// server, real Keystone + Glance, and the XenServer lab — each skipped when config names an existing one. The
// ready line comes once every service and every running scenario guest answers; it names password files (0600)
// and never holds a password.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startDevServer, type DevServer } from '../temporal/devServer.js';
import type { TemporalTarget } from '../temporal/connection.js';
import { attachWindowsGuests, type GuestInfo, type WindowsGuests } from './guest/attach.js';
import { parseGuestScenario } from './guest/scenario.js';
import { LAB_CLOUD, startOpenStack, type OpenStackLab } from './openstack/index.js';
import { type Probe, waitUntilAnswers } from './readiness.js';
import { type LabStateOutcome, startXapiLab, type XapiLab } from './xapi/index.js';

export interface LabOptions {
  config: Config;
  stateDir: string;
  logger: Logger;
  /** Overrides config.lab.scenario (a shipped name or a JSON file). */
  scenario?: string;
  /** Start the XenServer lab from an empty pool: its state (`<stateDir>/xapi`, `<stateDir>/guests`) is removed. */
  fresh?: boolean;
  /** How long services and scenario guests may take to answer (default 5 min). */
  readyTimeoutMs?: number;
}

export interface ReadyGuest {
  vm: string;
  address: string;
  port: number;
  https: boolean;
  username: string;
  /** A 0600 file holding the password, for guests whose password the lab knows (pre-installed ones). */
  passwordFile?: string;
}

/** The line `xenimage lab` prints when every service and every running scenario guest answers. */
export interface ReadyLine {
  ready: true;
  temporal: { address: string; namespace: string; ui?: string };
  clouds?: string;
  cloud: string;
  keystone?: string;
  glance?: string;
  /** The pool master over HTTPS (`ca` verifies it; `httpUrl` is the same host over plain HTTP). */
  xapi: { url: string; httpUrl: string; ca: string; username: string; passwordFile: string };
  pool: string;
  product: string;
  pools: string;
  /** What starting did with the lab's state folder (fresh, resumed, or the scenario applied to it). */
  state: LabStateOutcome & { dir: string };
  srs: Array<{ name: string; type: string; default: boolean }>;
  networks: string[];
  isos: string[];
  vms: Array<{ name: string; powerState: string }>;
  guests: ReadyGuest[];
}

export interface Lab {
  ready: ReadyLine;
  temporal: TemporalTarget;
  devServer?: DevServer;
  openstack?: OpenStackLab;
  xapi: XapiLab;
  guests: WindowsGuests;
  stop(): Promise<void>;
}

export async function startLab(options: LabOptions): Promise<Lab> {
  const { config, stateDir, logger } = options;
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => logger.warn({ err }, 'stop failed'));
  };
  try {
    // The state folder holds credentials (secrets, the lab's pool): its owner only.
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await chmod(stateDir, 0o700);
    let devServer: DevServer | undefined;
    let temporal: TemporalTarget;
    if (config.temporal.address) {
      temporal = { address: config.temporal.address, namespace: config.temporal.namespace, tls: config.temporal.tls };
    } else {
      devServer = await startDevServer({
        stateDir,
        namespace: config.temporal.namespace,
        port: config.temporal.port,
        uiPort: config.temporal.uiPort,
        logger,
      });
      stops.push(() => devServer!.stop());
      temporal = { address: devServer.address, namespace: devServer.namespace };
    }

    let openstack: OpenStackLab | undefined;
    if (config.openstack.cloud === LAB_CLOUD) {
      openstack = await startOpenStack({ stateDir, log: logger });
      stops.push(() => openstack!.stop());
      // Workers of this process find the lab cloud like any other clouds.yaml cloud.
      process.env.OS_CLIENT_CONFIG_FILE = openstack.cloudsFile;
    }

    // The lab's own secrets (XAPI password, guest passwords) are files in <stateDir>/secrets, where the
    // activities of this process resolve them.
    process.env.XENIMAGE_SECRETS_DIR ||= path.join(stateDir, 'secrets');
    if (options.fresh) await rm(path.join(stateDir, 'guests'), { recursive: true, force: true });
    const xapi = await startXapiLab({
      stateDir,
      scenario: options.scenario ?? config.lab.scenario,
      fresh: options.fresh,
      speed: config.lab.speed,
      log: logger,
    });
    stops.push(() => xapi.stop());
    const guests = await attachWindowsGuests(xapi.host, {
      stateDir,
      guests: xapi.scenario.guests,
      faults: xapi.scenario.faults?.guest,
      log: logger,
    });
    stops.push(() => guests.stop());

    const deadline = Date.now() + (options.readyTimeoutMs ?? 5 * 60_000);
    const probes: Probe[] = [
      { name: 'XAPI (HTTPS)', kind: 'http', url: xapi.httpsUrl, ca: await readFile(xapi.caFile, 'utf8') },
      { name: 'XAPI', kind: 'http', url: xapi.url },
    ];
    const [temporalHost = '', temporalPort = ''] = splitHostPort(temporal.address);
    if (devServer) probes.push({ name: 'Temporal', kind: 'tcp', host: temporalHost, port: Number(temporalPort) });
    if (openstack) {
      probes.push({ name: 'Keystone', kind: 'http', url: openstack.keystoneUrl });
      probes.push({ name: 'Glance', kind: 'http', url: openstack.glanceUrl });
    }
    await Promise.all(probes.map((p) => waitUntilAnswers(p, deadline)));
    const answering = await scenarioGuestsAnswer(xapi, guests, deadline);
    const description = xapi.describe();
    const readyGuests: ReadyGuest[] = [];
    for (const g of answering) readyGuests.push(await readyGuest(xapi.secretsDir, g));

    const ready: ReadyLine = {
      ready: true,
      temporal: {
        address: temporal.address,
        namespace: temporal.namespace,
        ...(devServer ? { ui: devServer.uiUrl } : {}),
      },
      cloud: config.openstack.cloud,
      ...(openstack
        ? { clouds: path.resolve(openstack.cloudsFile), keystone: openstack.keystoneUrl, glance: openstack.glanceUrl }
        : {}),
      xapi: {
        url: xapi.httpsUrl,
        httpUrl: xapi.url,
        ca: xapi.caFile,
        username: xapi.username,
        passwordFile: xapi.passwordFile,
      },
      pool: xapi.poolName,
      product: xapi.product,
      pools: path.resolve(xapi.poolsFile),
      state: { ...xapi.state, dir: path.join(xapi.stateDir, 'xapi') },
      srs: description.srs.map((sr) => ({ name: sr.name, type: sr.type, default: sr.default })),
      networks: description.networks.map((n) => n.name),
      isos: description.isos.map((i) => i.name),
      vms: description.vms.map((vm) => ({ name: vm.name, powerState: vm.powerState })),
      guests: readyGuests,
    };
    return { ready, temporal, devServer, openstack, xapi, guests, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function splitHostPort(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}

/**
 * The scenario's pre-installed Windows guests on running VMs, once each lists its WinRM listener and answers
 * there (an HTTP listener answers a request; an HTTPS one, with its own certificate, accepts a connection).
 */
async function scenarioGuestsAnswer(xapi: XapiLab, guests: WindowsGuests, deadline: number): Promise<GuestInfo[]> {
  const wanted = parseGuestScenario(xapi.scenario.guests, []).guests.windows.map((w) => w.vm);
  const running = new Set(
    xapi.host
      .listVms()
      .filter((v) => v.powerState === 'Running')
      .map((v) => v.nameLabel),
  );
  const out: GuestInfo[] = [];
  for (const vm of wanted.filter((name) => running.has(name))) {
    let info: GuestInfo | undefined;
    for (;;) {
      info = guests.guests().find((g) => g.vm === vm);
      if (info) break;
      if (Date.now() > deadline) throw new Error(`the Windows guest of VM "${vm}" did not start its WinRM listener`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitUntilAnswers(
      info.https
        ? { name: `WinRM of ${vm}`, kind: 'tcp', host: info.address, port: info.port }
        : { name: `WinRM of ${vm}`, kind: 'http', url: `http://${info.address}:${info.port}/wsman` },
      deadline,
    );
    out.push(info);
  }
  return out;
}

/** A guest of the ready line: its password, when the lab knows it, goes to a 0600 file in the secrets folder. */
async function readyGuest(secretsDir: string, g: GuestInfo): Promise<ReadyGuest> {
  const out: ReadyGuest = { vm: g.vm, address: g.address, port: g.port, https: g.https, username: g.username };
  if (g.password === undefined) return out;
  const file = path.join(secretsDir, `lab-guest-${g.vm}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 128));
  await writeFile(file, g.password, { mode: 0o600 });
  await chmod(file, 0o600);
  return { ...out, passwordFile: file };
}
