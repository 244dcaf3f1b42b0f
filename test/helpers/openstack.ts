// Keystone + Glance for workflow and activity tests: the run's shared lab cloud when test/run.ts started one
// (XENIMAGE_TEST_CLOUDS = its clouds.yaml), else a private one stopped when the test file ends.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTeardown } from './teardown.js';
import { LAB_CLOUD, startOpenStack } from '../../src/lab/openstack/index.js';
import { connectCloud, type OpenStackCloud } from '../../src/openstack/index.js';
import { testLogger } from './logger.js';

export interface TestCloud {
  cloudsFile: string;
  cloud: string;
  /** Opens the build user's cloud (closed when the file ends). */
  open(): OpenStackCloud;
}

let shared: Promise<TestCloud> | undefined;

export function testOpenStack(): Promise<TestCloud> {
  shared ??= (async () => {
    let cloudsFile = process.env.XENIMAGE_TEST_CLOUDS;
    if (!cloudsFile) {
      const stateDir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-openstack-'));
      const lab = await startOpenStack({ stateDir, log: testLogger() });
      onTeardown(async () => {
        await lab.stop();
        await rm(stateDir, { recursive: true, force: true });
      });
      cloudsFile = lab.cloudsFile;
    }
    const file = cloudsFile;
    return {
      cloudsFile: file,
      cloud: LAB_CLOUD,
      open() {
        const cloud = connectCloud(LAB_CLOUD, { file, env: {} });
        onTeardown(() => cloud.close());
        return cloud;
      },
    };
  })();
  return shared;
}
