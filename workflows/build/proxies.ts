// Activity proxies with their timeouts and retry policies: quick calls (lookups, checks, XAPI operations),
// streaming calls that heartbeat (transfers, bounded waits), best-effort calls (log collection), and the first
// call to a pool, which fails fast when no worker serves the pool's task queue.
import {
  type ActivityInterfaceFor,
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { durationMs } from '../../src/contracts/duration.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import type { Tuning } from '../../src/contracts/tuning.js';

export type BuildActivities = ActivityInterfaceFor<Activities>;

/** Failure types that no retry can fix (typed errors of src/ with retryable=false are already non-retryable). */
const NON_RETRYABLE = ['InvalidInput', 'SecretMissing', 'SecretOutOfScope'];

/** Short calls: lookups, checks, XAPI operations. */
export function quickActivities(taskQueue?: string): BuildActivities {
  return proxyActivities<Activities>({
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: '5m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 8,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
}

/** Long calls that heartbeat: data transfers and bounded waits. */
export function streamingActivities(tuning: Tuning, taskQueue?: string): BuildActivities {
  return proxyActivities<Activities>({
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: durationMs(tuning.transferTimeout),
    heartbeatTimeout: durationMs(tuning.heartbeatTimeout),
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: durationMs(tuning.retryInitialInterval),
      backoffCoefficient: 2,
      maximumInterval: durationMs(tuning.maxRetryInterval),
      maximumAttempts: 5,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
}

/** Calls whose failure the build survives (collecting guest logs): few attempts, bounded. */
function bestEffortActivities(tuning: Tuning, taskQueue?: string): BuildActivities {
  return proxyActivities<Activities>({
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: '10m',
    heartbeatTimeout: durationMs(tuning.heartbeatTimeout),
    retry: { initialInterval: '2s', maximumAttempts: 2, nonRetryableErrorTypes: NON_RETRYABLE },
  });
}

/** The activities of one pool: quick calls, waits and transfers, and best-effort calls, on the pool's queue. */
export function poolActivities(pool: string, tuning: Tuning) {
  const queue = poolTaskQueue(pool);
  return {
    xen: quickActivities(queue),
    waits: streamingActivities(tuning, queue),
    bestEffort: bestEffortActivities(tuning, queue),
  };
}

/**
 * The first call to a pool: fails fast (UnknownPool) when no worker serves its task queue — an unknown pool, or
 * no worker started for it — instead of waiting forever for one.
 */
export async function firstPoolCall<T>(
  pool: string,
  tuning: Tuning,
  call: (probe: BuildActivities) => Promise<T>,
): Promise<T> {
  const queue = poolTaskQueue(pool);
  const probe = proxyActivities<Activities>({
    taskQueue: queue,
    scheduleToStartTimeout: durationMs(tuning.poolWorkerTimeout),
    startToCloseTimeout: '5m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 5,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
  try {
    return await call(probe);
  } catch (err) {
    if (
      err instanceof ActivityFailure &&
      err.cause instanceof TimeoutFailure &&
      err.cause.timeoutType === 'SCHEDULE_TO_START'
    ) {
      throw ApplicationFailure.nonRetryable(
        `no worker serves pool "${pool}" (task queue ${queue}) within ${tuning.poolWorkerTimeout}: the pool is unknown, or start "xenimage worker --pool ${pool}"`,
        'UnknownPool',
      );
    }
    throw err;
  }
}
