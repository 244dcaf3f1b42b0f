// Activity proxies with their timeouts and retry policies: quick calls (lookups, checks, XAPI operations),
// streaming calls that heartbeat (bounded waits), transfers (heartbeats from moving bytes, their own stall
// watchdog), best-effort calls (log collection), and the first call to a pool, which fails as UnknownPool only
// when no worker polls the pool's task queue (docs/decisions/builds-0003-pool-load-and-waits.md).
import {
  type ActivityInterfaceFor,
  type ActivityOptions,
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { durationMs } from '../../src/contracts/duration.js';
import { poolTaskQueue } from '../../src/contracts/taskQueues.js';
import type { Tuning } from '../../src/contracts/tuning.js';
import { withStepSummaries } from './console.js';

export type BuildActivities = ActivityInterfaceFor<Activities>;

/** Every proxy of a build: each call's summary names the step that made it (the UI lists activities by it). */
function proxy(options: ActivityOptions): BuildActivities {
  return withStepSummaries(proxyActivities<Activities>(options));
}

/** Failure types that no retry can fix (typed errors of src/ with retryable=false are already non-retryable). */
const NON_RETRYABLE = ['InvalidInput', 'SecretMissing', 'SecretOutOfScope'];

/** Activities that move bytes: they take the stall timeout with their input and fail TransferStalled themselves. */
const TRANSFERS: ReadonlySet<string> = new Set(['exportToGlance', 'normalizeVdi', 'convertToGlance', 'verifyImage']);
/** Quick calls that may wait for a pool slot (the pools file's `limits`): they heartbeat and get a long timeout. */
const SLOTTED: ReadonlySet<string> = new Set(['startVm']);
/** Between a transfer's own stall verdict and the server's heartbeat timeout, which then means a dead worker. */
const STALL_MARGIN_MS = 30_000;

/**
 * Whichever proxy a workflow calls an activity through, transfers get the transfer options (and the stall timeout
 * in their input) and slotted calls the heartbeating ones: one place decides each activity's timeouts.
 */
function routed(base: BuildActivities, tuning: Tuning, taskQueue?: string): BuildActivities {
  const transfers = transferActivities(tuning, taskQueue);
  const waits = streamingActivities(tuning, taskQueue);
  const stallTimeoutMs = durationMs(tuning.stallTimeout);
  return new Proxy(base, {
    get(target, name, receiver) {
      if (typeof name === 'string' && TRANSFERS.has(name)) {
        const call = Reflect.get(transfers, name) as (input: object) => Promise<unknown>;
        return (input: object) => call({ ...input, stallTimeoutMs });
      }
      if (typeof name === 'string' && SLOTTED.has(name)) return Reflect.get(waits, name);
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
}

/** Calls that need no pool (checks, verification, the cloud), on the general task queue. */
export function generalActivities(tuning: Tuning): BuildActivities {
  return routed(quickActivities(), tuning);
}

/** Long calls on the general task queue (convertImage's data path). */
export function generalStreamingActivities(tuning: Tuning): BuildActivities {
  return routed(streamingActivities(tuning), tuning);
}

/** Short calls: lookups, checks, XAPI operations. */
export function quickActivities(taskQueue?: string): BuildActivities {
  return proxy({
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
  return proxy({
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

/**
 * Transfers: they heartbeat when bytes move and fail TransferStalled after tuning.stallTimeout without any; the
 * server's heartbeat timeout is a little longer, so it fires only for a worker that died. They retry until the
 * transfer budget is spent, not a number of attempts: a worker that died is no fault of the transfer
 * (docs/decisions/builds-0006-transfer-retry-budget.md).
 */
function transferActivities(tuning: Tuning, taskQueue?: string): BuildActivities {
  return proxy({
    ...(taskQueue ? { taskQueue } : {}),
    scheduleToCloseTimeout: durationMs(tuning.transferTimeout),
    startToCloseTimeout: durationMs(tuning.transferTimeout),
    heartbeatTimeout: durationMs(tuning.stallTimeout) + STALL_MARGIN_MS,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: durationMs(tuning.retryInitialInterval),
      backoffCoefficient: 2,
      maximumInterval: durationMs(tuning.maxRetryInterval),
      // No maximumAttempts: unlimited, bounded by scheduleToCloseTimeout.
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
}

/** Calls whose failure the build survives (collecting guest logs): few attempts, bounded. */
function bestEffortActivities(tuning: Tuning, taskQueue?: string): BuildActivities {
  return proxy({
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
    xen: routed(quickActivities(queue), tuning, queue),
    waits: routed(streamingActivities(tuning, queue), tuning, queue),
    bestEffort: bestEffortActivities(tuning, queue),
  };
}

/**
 * The first call to a pool. When no worker takes it within tuning.poolWorkerTimeout, Temporal is asked whether any
 * worker polls the pool's queue: none → UnknownPool (an unknown pool, or no worker started for it); some → the
 * pool's workers are busy, and the call waits its turn like any other.
 */
export async function firstPoolCall<T>(
  pool: string,
  tuning: Tuning,
  call: (probe: BuildActivities) => Promise<T>,
): Promise<T> {
  const queue = poolTaskQueue(pool);
  const probe = proxy({
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
      !(err instanceof ActivityFailure) ||
      !(err.cause instanceof TimeoutFailure) ||
      err.cause.timeoutType !== 'SCHEDULE_TO_START'
    )
      throw err;
  }
  const { pollers } = await quickActivities().queuePollers({ taskQueue: queue });
  if (pollers === 0) {
    throw ApplicationFailure.nonRetryable(
      `no worker serves pool "${pool}" (task queue ${queue}) within ${tuning.poolWorkerTimeout}: the pool is unknown, or start "xenimage worker --pool ${pool}"`,
      'UnknownPool',
    );
  }
  log.info("the pool's workers are busy; waiting for one", { pool, pollers });
  return call(routed(quickActivities(queue), tuning, queue));
}
