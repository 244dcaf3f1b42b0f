// A worker for one test file on its own task queue, with every activity of the engine, stopped when the file ends.
import { onTeardown } from './teardown.js';
import * as activities from '../../activities/index.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { startWorker, type RunningWorker } from '../../src/temporal/worker.js';
import { createLogger } from '../../src/log.js';
import { uniqueTaskQueue } from './temporal.js';

export async function startTestWorker(
  target: TemporalTarget,
  prefix: string,
  extra: { taskQueue?: string } = {},
): Promise<RunningWorker & { taskQueue: string }> {
  const taskQueue = extra.taskQueue ?? uniqueTaskQueue(prefix);
  // Expected activity failures are logged by the worker at warn level; tests read outcomes, not logs.
  const logger = createLogger({ level: process.env.XENIMAGE_TEST_LOG_LEVEL ?? 'error' });
  const worker = await startWorker({ target, taskQueue, activities, logger, shutdownGraceTime: '2s' });
  onTeardown(() => worker.shutdown());
  return { ...worker, taskQueue };
}
