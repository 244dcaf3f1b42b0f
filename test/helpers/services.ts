// Services shared by the test files of one `npm test` run. Suites ask for a service through the helpers in this
// folder (testTemporal(), testOpenStack()); when the runner has started one, its endpoint travels in the
// environment, otherwise the helper starts a private one (so a single test file also runs on its own).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startOpenStack } from '../../src/lab/openstack/index.js';
import { startDevServer } from '../../src/temporal/devServer.js';
import { testLogger } from './logger.js';

export interface SharedServices {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Which shared services the files under a test folder use. */
const NEEDS: Array<[prefix: string, services: Array<'temporal' | 'openstack'>]> = [
  ['workflows/', ['temporal', 'openstack']],
  ['cli/', ['temporal', 'openstack']],
  ['schedules/', ['temporal', 'openstack']],
  ['production/', ['temporal', 'openstack']],
  ['activities/image', ['openstack']],
  ['ui/', ['temporal', 'openstack']],
];

export async function startSharedServices(files: string[]): Promise<SharedServices> {
  const needed = new Set(files.flatMap((f) => NEEDS.filter(([prefix]) => f.startsWith(prefix)).flatMap(([, s]) => s)));
  const env: Record<string, string> = {};
  const stops: Array<() => Promise<void>> = [];
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-shared-'));
  stops.push(() => rm(stateDir, { recursive: true, force: true }));
  const logger = testLogger();
  try {
    // One after the other: the dev server takes random ports of its own (metrics, HTTP API) while it starts,
    // which could collide with a port another service has just been handed.
    if (needed.has('temporal')) {
      const server = await startDevServer({ stateDir, namespace: 'default', port: 0, uiPort: 0, logger });
      stops.push(() => server.stop());
      env.XENIMAGE_TEST_TEMPORAL = server.address;
      env.XENIMAGE_TEST_TEMPORAL_UI = server.uiUrl;
    }
    if (needed.has('openstack')) {
      const lab = await startOpenStack({ stateDir, log: logger });
      stops.push(() => lab.stop());
      env.XENIMAGE_TEST_CLOUDS = lab.cloudsFile;
    }
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw err;
  }
  return {
    env,
    async stop() {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    },
  };
}
