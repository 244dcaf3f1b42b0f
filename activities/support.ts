// What every activity shares: input parsing, progress heartbeats on a timer, and the one place where library
// errors become Temporal failures (typed, retryable or not, secret-free).
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { z } from 'zod';
import { ACTIVITY_PROGRESS_SIGNAL, type ActivityProgress } from '../src/contracts/messages.js';
import { describeIssues } from '../src/contracts/validate.js';
import { errorMessage, InvalidInputError, isXenimageError } from '../src/errors.js';

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

/**
 * Heartbeats the latest progress every `intervalMs` (not per chunk: the SDK throttles anyway and the UI shows
 * the last details), and once more at the end. Cancellation reaches the activity through these heartbeats.
 * With `signalEveryMs`, it also tells its workflow (signal `activityProgress`) so the `progress` query can
 * show bytes during a transfer; a failed signal never fails the activity.
 */
export class ProgressReporter {
  private latest: Progress;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastSignalled = '';

  constructor(initial: Progress, options: { intervalMs?: number; signalEveryMs?: number } = {}) {
    this.latest = initial;
    const context = Context.current();
    context.heartbeat(this.snapshot());
    this.timers.push(setInterval(() => context.heartbeat(this.snapshot()), options.intervalMs ?? 2000));
    if (options.signalEveryMs) this.timers.push(setInterval(() => void this.signal(), options.signalEveryMs));
    for (const t of this.timers) t.unref();
  }

  update(progress: Partial<Progress>): void {
    this.latest = { ...this.latest, ...progress };
  }

  private snapshot(): Progress {
    const { bytesDone, bytesTotal } = this.latest;
    const pct = bytesDone !== undefined && bytesTotal ? Math.floor((bytesDone * 1000) / bytesTotal) / 10 : undefined;
    return pct === undefined ? this.latest : { ...this.latest, pct };
  }

  private async signal(): Promise<void> {
    const context = Context.current();
    const info = context.info;
    const payload: ActivityProgress = {
      activity: info.activityType,
      attempt: info.attempt,
      phase: this.latest.phase,
      bytesDone: this.latest.bytesDone,
      bytesTotal: this.latest.bytesTotal,
    };
    const key = JSON.stringify(payload);
    if (key === this.lastSignalled || !info.workflowExecution) return;
    this.lastSignalled = key;
    try {
      await context.client.workflow
        .getHandle(info.workflowExecution.workflowId, info.workflowExecution.runId)
        .signal(ACTIVITY_PROGRESS_SIGNAL, payload);
    } catch {
      // Progress display only: the heartbeat carries the same facts.
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    Context.current().heartbeat(this.snapshot());
    await this.signal();
  }
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
