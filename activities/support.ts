// What every activity shares: input parsing, progress heartbeats (on a timer for waits, on moving bytes for
// transfers, with a stall watchdog), and the one place where library errors become Temporal failures (typed,
// retryable or not, secret-free).
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { z } from 'zod';
import { ACTIVITY_PROGRESS_SIGNAL, type ActivityProgress } from '../src/contracts/messages.js';
import { describeIssues } from '../src/contracts/validate.js';
import type { PoolSlots } from '../src/xapi/poolLimits.js';
import type { PoolResource } from '../src/xapi/pools.js';
import { errorMessage, InvalidInputError, isXenimageError, TransferStalledError } from '../src/errors.js';

/** Parses an activity's input: a bad one is a typed, non-retryable InvalidInput naming every bad field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new InvalidInputError(`${what}: ${describeIssues(r.error)}`);
  return r.data;
}

/** Converts anything thrown by src/ into an ApplicationFailure that keeps the error's type and retryability. */
function toFailure(err: unknown): ApplicationFailure | CancelledFailure {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (isXenimageError(err)) {
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: !err.retryable,
      details: Object.keys(err.details).length ? [err.details] : undefined,
    });
  }
  // Unknown errors (network resets, bugs) are retryable: the retry policy bounds them.
  const type = err instanceof Error ? err.name || 'Error' : 'Error';
  return ApplicationFailure.create({ type, message: errorMessage(err), nonRetryable: false });
}

export interface Progress {
  phase: string;
  bytesDone?: number;
  bytesTotal?: number;
  [key: string]: unknown;
}

export interface ReporterOptions {
  /** Heartbeat period of a wait (default 2 s); ignored with `stallTimeoutMs`. */
  intervalMs?: number;
  /** Also tell the workflow (signal `activityProgress`) this often, so `progress` shows bytes. */
  signalEveryMs?: number;
  /**
   * A transfer: heartbeats go out when the progress changes (bytes moved, a new phase), not on a timer, and no
   * change for this long aborts `signal` with a retryable TransferStalled (docs/decisions/builds-0003-pool-load-and-waits.md).
   */
  stallTimeoutMs?: number;
  /** What the transfer is, for the TransferStalled message. */
  what?: string;
}

/**
 * Heartbeats the latest progress (the SDK throttles them, and the UI shows the last details), and once more at the
 * end. Cancellation reaches the activity through these heartbeats. A wait heartbeats on a timer: it is alive while
 * it polls. A transfer heartbeats only when its progress changes, so a stalled one stops heartbeating, and its own
 * watchdog fails it first, typed. With `signalEveryMs`, the reporter also tells its workflow (signal
 * `activityProgress`) so the `progress` query can show bytes during a transfer; a failed signal never fails the
 * activity.
 */
export class ProgressReporter {
  private latest: Progress;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastMove = Date.now();
  private readonly stall = new AbortController();
  /** The activity's cancellation, and for a transfer its stall: what the work must honour. */
  readonly signal: AbortSignal;

  constructor(
    initial: Progress,
    private readonly options: ReporterOptions = {},
  ) {
    this.latest = initial;
    const context = Context.current();
    this.signal = AbortSignal.any([context.cancellationSignal, this.stall.signal]);
    context.heartbeat(this.snapshot());
    const stallMs = options.stallTimeoutMs;
    if (stallMs === undefined) {
      this.timers.push(setInterval(() => context.heartbeat(this.snapshot()), options.intervalMs ?? 2000));
    } else {
      const check = () => {
        if (!this.stall.signal.aborted && Date.now() - this.lastMove >= stallMs)
          this.stall.abort(new TransferStalledError(options.what ?? this.latest.phase, stallMs));
      };
      this.timers.push(setInterval(check, Math.min(1000, Math.max(50, stallMs / 5))));
    }
    if (options.signalEveryMs) this.timers.push(setInterval(() => void this.report(), options.signalEveryMs));
    for (const t of this.timers) t.unref();
  }

  update(progress: Partial<Progress>): void {
    const changed = Object.entries(progress).some(([k, v]) => this.latest[k] !== v);
    this.latest = { ...this.latest, ...progress };
    if (changed && this.options.stallTimeoutMs !== undefined && !this.stall.signal.aborted) {
      this.lastMove = Date.now();
      Context.current().heartbeat(this.snapshot());
    }
  }

  /** The TransferStalled that aborted `signal`, if the transfer stalled. */
  get stalled(): TransferStalledError | undefined {
    const reason: unknown = this.stall.signal.reason;
    return reason instanceof TransferStalledError ? reason : undefined;
  }

  /** Runs the transfer with `signal`; what a stall made it throw becomes the TransferStalled. */
  async guard<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await body(this.signal);
    } catch (err) {
      throw this.stalled ?? err;
    }
  }

  private snapshot(): Progress {
    const { bytesDone, bytesTotal } = this.latest;
    const pct = bytesDone !== undefined && bytesTotal ? Math.floor((bytesDone * 1000) / bytesTotal) / 10 : undefined;
    return pct === undefined ? this.latest : { ...this.latest, pct };
  }

  private async report(): Promise<void> {
    await signalProgress({
      phase: this.latest.phase,
      bytesDone: this.latest.bytesDone,
      bytesTotal: this.latest.bytesTotal,
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    Context.current().heartbeat(this.snapshot());
    await this.report();
  }
}

/** What each running activity (by its context) last signalled. */
const lastProgressSent = new WeakMap<object, string>();

/**
 * Tells the activity's workflow how it is doing (signal `activityProgress`), unless it was told exactly this last;
 * returns what was sent. Progress display only: a failed signal is ignored (the heartbeat carries the same facts).
 */
export async function signalProgress(
  progress: Omit<ActivityProgress, 'activity' | 'attempt'>,
): Promise<string | undefined> {
  const context = Context.current();
  const info = context.info;
  const payload: ActivityProgress = { activity: info.activityType, attempt: info.attempt, ...progress };
  const key = JSON.stringify(payload);
  if (lastProgressSent.get(context) === key || !info.workflowExecution) return undefined;
  lastProgressSent.set(context, key);
  try {
    await context.client.workflow
      .getHandle(info.workflowExecution.workflowId, info.workflowExecution.runId)
      .signal(ACTIVITY_PROGRESS_SIGNAL, payload);
  } catch {
    // Progress display only.
  }
  return key;
}

/** Runs `body` with a reporter of its own, stopped (with a last heartbeat) however the body ends. */
export async function withProgress<T>(phase: string, body: (reporter: ProgressReporter) => Promise<T>): Promise<T> {
  const reporter = new ProgressReporter({ phase });
  try {
    return await body(reporter);
  } finally {
    await reporter.stop();
  }
}

/**
 * Runs an activity body with the cancellation signal. A cancelled activity rethrows the SDK's CancelledFailure
 * (so Temporal records a cancellation, not a retryable failure); anything else becomes a typed failure.
 */
export async function activity<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = Context.current().cancellationSignal;
  try {
    return await body(signal);
  } catch (err) {
    if (err instanceof CancelledFailure) throw err;
    if (signal.aborted)
      throw signal.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure('cancelled');
    throw toFailure(err);
  }
}

/**
 * Runs `body` holding a slot of the pool's resource (the pools file's `limits`). A build beyond the limit waits its
 * turn, heartbeating, and its workflow is told it is queued (the `progress` query shows `queuedFor`).
 */
export async function withPoolSlot<T>(
  slots: PoolSlots,
  pool: string,
  resource: PoolResource,
  signal: AbortSignal,
  body: () => Promise<T>,
): Promise<T> {
  let beat: NodeJS.Timeout | undefined;
  try {
    return await slots.run(pool, resource, body, {
      signal,
      onQueued: (wait) => {
        const context = Context.current();
        const details = { phase: `queued for ${resource}`, queuedFor: resource, ...wait };
        context.heartbeat(details);
        beat = setInterval(() => context.heartbeat(details), 2000);
        void signalProgress({ phase: details.phase, queuedFor: resource });
      },
      onGranted: () => {
        clearInterval(beat);
        void signalProgress({ phase: `${resource} slot granted` });
      },
    });
  } finally {
    clearInterval(beat);
  }
}
