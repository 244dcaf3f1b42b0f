// A worker for one test file on its own task queue, with every activity of the engine made from the test's deps,
// stopped when the file ends.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createActivities, type ActivityDeps } from '../../activities/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { startWorker, type DeploymentVersion, type RunningWorker } from '../../src/temporal/worker.js';
import { testDeps } from './deps.js';
import { onTeardown } from './teardown.js';
import { uniqueTaskQueue } from './temporal.js';

export interface TestWorkerOptions {
  taskQueue?: string;
  /** The activities' deps; default: a fresh state folder of the worker's own and `cloudsFile`. */
  deps?: ActivityDeps;
  cloudsFile?: string;
  /** Folders inputs may read and networks input URLs may reach (with the default deps). */
  sourceDirs?: string[];
  networkAllow?: string[];
  /** Activities in place of the engine's (a workflow's branches with fakes). */
  activities?: object;
  /** Activity slots (default: the worker factory's). */
  maxConcurrentActivities?: number;
  /** Serve this worker deployment version (Worker Versioning) instead of running unversioned. */
  deployment?: DeploymentVersion;
  /** Another workflows module in place of the engine's (a changed release). */
  workflowsPath?: string;
  /** The worker's logger (default: errors only); a test that reads the log passes its own. */
  logger?: Logger;
}

export async function startTestWorker(
  target: TemporalTarget,
  prefix: string,
  options: TestWorkerOptions = {},
): Promise<RunningWorker & { taskQueue: string }> {
  const taskQueue = options.taskQueue ?? uniqueTaskQueue(prefix);
  let activities = options.activities;
  if (!activities) {
    let deps = options.deps;
    if (!deps) {
      const stateDir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-worker-'));
      onTeardown(() => rm(stateDir, { recursive: true, force: true }));
      deps = testDeps({
        stateDir,
        ...(options.cloudsFile ? { cloudsFile: options.cloudsFile } : {}),
        ...(options.sourceDirs ? { sourceDirs: options.sourceDirs } : {}),
        ...(options.networkAllow ? { networkAllow: options.networkAllow } : {}),
      });
    }
    activities = createActivities(deps);
  }
  // Expected activity failures are logged by the worker at warn level; tests read outcomes, not logs.
  const logger = options.logger ?? createLogger({ level: process.env.XENIMAGE_TEST_LOG_LEVEL ?? 'error' });
  const worker = await startWorker({
    target,
    taskQueue,
    activities,
    logger,
    shutdownGraceTime: '2s',
    ...(options.maxConcurrentActivities ? { maxConcurrentActivities: options.maxConcurrentActivities } : {}),
    ...(options.deployment ? { deployment: options.deployment } : {}),
    ...(options.workflowsPath ? { workflowsPath: options.workflowsPath } : {}),
  });
  onTeardown(() => worker.shutdown());
  return { ...worker, taskQueue };
}
