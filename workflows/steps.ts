// What every build workflow shares: input validation, the step tracker behind the `progress` query and the
// XenimageStep search attribute, activity proxies with their retry policies, and the saga of compensations.
import {
  type ActivityInterfaceFor,
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type * as activities from '../activities/index.js';
import type { BuildProgress, BuildState, StepRecord } from '../src/contracts/messages.js';
import { XenimageImage, XenimageKind, XenimagePool, XenimageStep } from '../src/contracts/searchAttributes.js';
import { durationMs } from '../src/contracts/duration.js';
import type { Tuning } from '../src/contracts/tuning.js';
import { parseInput } from '../src/contracts/validate.js';
import { activityProgressSignal, progressQuery } from './messages.js';

type Activities = typeof activities;

/** Failure types that no retry can fix (typed errors of src/ with retryable=false are already non-retryable). */
const NON_RETRYABLE = ['InvalidInput', 'SecretMissing'];

/** Short calls: lookups, checks, XAPI operations. */
export function quickActivities(taskQueue?: string) {
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

/**
 * The first call to a pool: fails fast (UnknownPool) when no worker serves its xen-<pool> task queue — an
 * unknown pool, or no worker started for it — instead of waiting forever for one.
 */
export async function firstPoolCall<T>(
  pool: string,
  tuning: Tuning,
  call: (probe: ActivityInterfaceFor<Activities>) => Promise<T>,
): Promise<T> {
  const probe = proxyActivities<Activities>({
    taskQueue: `xen-${pool}`,
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
        `no worker serves pool "${pool}" (task queue xen-${pool}) within ${tuning.poolWorkerTimeout}: the pool is unknown, or start "xenimage worker --pool ${pool}"`,
        'UnknownPool',
      );
    }
    throw err;
  }
}

/** Long calls that heartbeat: data transfers and bounded waits. */
export function streamingActivities(tuning: Tuning, taskQueue?: string) {
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

/** Validates a workflow input; bad input fails the workflow at once, before any side effect. */
export function validateInput<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = parseInput(schema, raw);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(`invalid input: ${parsed.message}`, 'InvalidInput');
  return parsed.value;
}

/**
 * What every build on a pool starts with: its tracker, its validated input (a typed, non-retryable failure before
 * anything is created), activity proxies for the general and the pool's task queues, and its compensations.
 */
export function startPoolBuild<S extends z.ZodType<{ pool: string; image: { name: string }; tuning: Tuning }>>(
  kind: string,
  schema: S,
  raw: unknown,
) {
  const build = new BuildTracker(kind);
  const input: z.infer<S> = validateInput(schema, raw);
  build.describe(input.image.name, input.pool);
  const poolQueue = `xen-${input.pool}`;
  return {
    build,
    input,
    general: quickActivities(),
    xen: quickActivities(poolQueue),
    waits: streamingActivities(input.tuning, poolQueue),
    saga: new Compensations(),
  };
}

/** Tracks the build's steps for the `progress` query, the XenimageStep search attribute and the history. */
export class BuildTracker {
  readonly progress: BuildProgress;

  constructor(kind: string) {
    this.progress = { kind, state: 'running', step: 'validate', attempt: 1, steps: [] };
    setHandler(progressQuery, () => this.progress);
    setHandler(activityProgressSignal, (p) => {
      this.progress.attempt = p.attempt;
      this.progress.bytesDone = p.bytesDone;
      this.progress.bytesTotal = p.bytesTotal;
    });
    upsertSearchAttributes([
      { key: XenimageKind, value: kind },
      { key: XenimageStep, value: 'validate' },
    ]);
  }

  describe(image: string, pool?: string): void {
    upsertSearchAttributes([
      { key: XenimageImage, value: image },
      ...(pool ? [{ key: XenimagePool, value: pool }] : []),
    ]);
  }

  private enter(step: string, attempt: number): StepRecord {
    const record: StepRecord = { step, status: 'running', attempt };
    this.progress.steps.push(record);
    this.progress.step = step;
    this.progress.attempt = attempt;
    this.progress.bytesDone = undefined;
    this.progress.bytesTotal = undefined;
    upsertSearchAttributes([{ key: XenimageStep, value: step }]);
    log.info('step started', { step, attempt });
    return record;
  }

  /** Runs one step; `note` summarises its result for `progress` (never secrets). */
  async step<T>(
    name: string,
    run: () => Promise<T>,
    note?: (result: T) => string | undefined,
    attempt = 1,
  ): Promise<T> {
    const record = this.enter(name, attempt);
    try {
      const result = await run();
      record.status = 'done';
      const text = note?.(result);
      if (text) record.note = text;
      return result;
    } catch (err) {
      record.status = 'failed';
      record.note = err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300);
      throw err;
    }
  }

  skip(name: string, why: string): void {
    this.progress.steps.push({ step: name, status: 'skipped', attempt: 0, note: why });
  }

  setState(state: BuildState, waitingFor?: string): void {
    this.progress.state = state;
    this.progress.waitingFor = waitingFor;
    if (state !== 'running') upsertSearchAttributes([{ key: XenimageStep, value: state }]);
  }
}

export interface CompensationOutcome {
  name: string;
  ok: boolean;
  error?: string;
}

/** Undo actions of a build, run newest first (samples-typescript `saga`). */
export class Compensations {
  private readonly items: Array<{ name: string; undo: () => Promise<unknown> }> = [];

  add(name: string, undo: () => Promise<unknown>): void {
    if (!this.items.some((i) => i.name === name)) this.items.unshift({ name, undo });
  }

  names(): string[] {
    return this.items.map((i) => i.name);
  }

  /** Runs every compensation even when the workflow is being cancelled; logs and continues on errors. */
  async run(): Promise<CompensationOutcome[]> {
    return CancellationScope.nonCancellable(async () => {
      const outcomes: CompensationOutcome[] = [];
      for (const { name, undo } of this.items) {
        try {
          await undo();
          outcomes.push({ name, ok: true });
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          log.warn('compensation failed', { name, error });
          outcomes.push({ name, ok: false, error });
        }
      }
      return outcomes;
    });
  }
}

/**
 * The common ending of a failed build: clean up (unless the operator keeps the leftovers, which are then listed
 * in the failure), record the state, and return the error to rethrow.
 */
export async function failBuild(
  tracker: BuildTracker,
  saga: Compensations,
  err: unknown,
  keep: { keepOnFailure: boolean; listLeftovers?: () => Promise<string[]> },
): Promise<unknown> {
  const cancelled = isCancellation(err);
  if (keep.keepOnFailure) {
    const kept = await CancellationScope.nonCancellable(async () =>
      keep.listLeftovers ? keep.listLeftovers().catch(() => saga.names()) : saga.names(),
    );
    tracker.setState(cancelled ? 'cancelled' : 'failed');
    if (cancelled) log.warn('cancelled; leftovers kept for debugging', { kept });
    if (cancelled || kept.length === 0) return err;
    const root = innermost(err);
    const message = root instanceof Error ? root.message : String(root);
    return ApplicationFailure.create({
      type: root instanceof ApplicationFailure && root.type ? root.type : 'BuildFailed',
      message: `${message} (kept for debugging: ${kept.join('; ')})`,
      nonRetryable: true,
      details: [{ kept }],
      cause: err instanceof Error ? err : undefined,
    });
  }
  tracker.setState('cleaning-up');
  const outcomes = await saga.run();
  tracker.setState(cancelled ? 'cancelled' : 'failed');
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) log.error('cleanup incomplete', { failed });
  return err;
}

/** The failure at the bottom of a chain of activity failures (what actually went wrong). */
function innermost(err: unknown): unknown {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause;
}
