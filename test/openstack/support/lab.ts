// One real Keystone + Glance per test file, in a temp state dir removed after the services stopped.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startOpenStack, type OpenStackLab, type StartOpenStackOptions } from '../../../src/lab/openstack/index.js';
import { setRootLogger } from '../../../src/log.js';
import { connectCloud, type OpenCloudOptions, type OpenStackCloud } from '../../../src/openstack/index.js';
import { testLogger } from '../../helpers/logger.js';

export interface TestLab {
  lab: OpenStackLab;
  stateDir: string;
  /** The build user's cloud from the written clouds.yaml. */
  cloud(options?: OpenCloudOptions): OpenStackCloud;
  /** The admin cloud (for revoking tokens, checking what the build user cannot see). */
  admin(): OpenStackCloud;
  close(): Promise<void>;
}

export async function startTestLab(options: Omit<StartOpenStackOptions, 'stateDir'> = {}): Promise<TestLab> {
  // Quiet unless XENIMAGE_TEST_LOG_LEVEL asks for more (publishImage logs through the root logger).
  const logger = testLogger();
  setRootLogger(logger);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-openstack-'));
  const lab = await startOpenStack({ stateDir, log: logger, ...options });
  const opened: OpenStackCloud[] = [];
  const open = (name: string, o: OpenCloudOptions = {}) => {
    const c = connectCloud(name, { file: lab.cloudsFile, env: {}, ...o });
    opened.push(c);
    return c;
  };
  return {
    lab,
    stateDir,
    cloud: (o) => open(lab.cloud, o),
    admin: () => open(lab.adminCloud!),
    async close() {
      await Promise.all(opened.map((c) => c.close()));
      await lab.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
