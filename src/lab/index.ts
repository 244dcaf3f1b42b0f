// The embedded default: everything `xenimage lab` and `xenimage up` run on one machine — the Temporal dev
// server, real Keystone + Glance, and the XenServer lab — each skipped when config names an existing one.
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startDevServer, type DevServer } from '../temporal/devServer.js';
import type { TemporalTarget } from '../temporal/connection.js';
import { LAB_CLOUD, startOpenStack, type OpenStackLab } from './openstack/index.js';

export interface LabOptions {
  config: Config;
  stateDir: string;
  logger: Logger;
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

    const ready: ReadyLine = {
      ready: true,
      temporal: { address: temporal.address, namespace: temporal.namespace, ...(devServer ? { ui: devServer.uiUrl } : {}) },
      cloud: config.openstack.cloud,
      ...(openstack ? { clouds: path.resolve(openstack.cloudsFile), keystone: openstack.keystoneUrl, glance: openstack.glanceUrl } : {}),
    };
    return { ready, temporal, devServer, openstack, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
