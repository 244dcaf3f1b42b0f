// The embedded default: everything `xenimage lab` and `xenimage up` run on one machine — the Temporal dev
// server, real Keystone + Glance, and the XenServer lab — each skipped when config names an existing one.
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startDevServer, type DevServer } from '../temporal/devServer.js';
import type { TemporalTarget } from '../temporal/connection.js';
import { attachWindowsGuests, type WindowsGuests } from './guest/attach.js';
import { LAB_CLOUD, startOpenStack, type OpenStackLab } from './openstack/index.js';
import { startXapiLab, type XapiLab } from './xapi/index.js';

export interface LabOptions {
  config: Config;
  stateDir: string;
  logger: Logger;
  /** Overrides config.lab.scenario (a shipped name or a JSON file). */
  scenario?: string;
}

/** The line `xenimage lab` prints when ready (later parts add xapi, pool, SRs, guests…). */
export interface ReadyLine {
  ready: true;
  temporal: { address: string; namespace: string; ui?: string };
  clouds?: string;
  cloud: string;
  keystone?: string;
  glance?: string;
  [key: string]: unknown;
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
    process.env.XENIMAGE_SECRETS_DIR ??= path.join(stateDir, 'secrets');
    const xapi = await startXapiLab({
      stateDir,
      scenario: options.scenario ?? config.lab.scenario,
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
    const description = xapi.describe();

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
      xapi: { url: xapi.url, username: xapi.username, password: xapi.password },
      pool: xapi.poolName,
      pools: path.resolve(xapi.poolsFile),
      srs: description.srs.map((sr) => ({ name: sr.name, type: sr.type, default: sr.default })),
      networks: description.networks.map((n) => n.name),
      isos: description.isos.map((i) => i.name),
      vms: description.vms.map((vm) => ({ name: vm.name, powerState: vm.powerState })),
      guests: guests.guests().map((g) => ({
        vm: g.vm,
        address: g.address,
        port: g.port,
        https: g.https,
        username: g.username,
        password: g.password,
      })),
    };
    return { ready, temporal, devServer, openstack, xapi, guests, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
