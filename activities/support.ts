// What every activity shares: the build's identity and tag, progress heartbeats on a timer, and the one place
// where library errors become Temporal failures (typed, retryable or not, secret-free).
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { errorMessage, isXenimageError } from '../src/errors.js';

/** The key under which everything a build creates records the build's workflow ID (XAPI other_config, Glance tag prefix). */
export const BUILD_TAG_KEY = 'xenimage-build';

/** The build this activity works for: its workflow ID. */
export function buildId(): string {
  const id = Context.current().info.workflowExecution?.workflowId;
  if (!id) throw ApplicationFailure.nonRetryable('this activity must run inside a workflow', 'NoWorkflow');
  return id;
}

/** Converts anything thrown by src/ into an ApplicationFailure that keeps the error's type and retryability. */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
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
 */
export class ProgressReporter {
  private latest: Progress;
  private readonly timer: NodeJS.Timeout;

  constructor(initial: Progress, intervalMs = 2000) {
    this.latest = initial;
    Context.current().heartbeat(this.snapshot());
    this.timer = setInterval(() => Context.current().heartbeat(this.snapshot()), intervalMs);
    this.timer.unref();
  }

  update(progress: Partial<Progress>): void {
    this.latest = { ...this.latest, ...progress };
  }

  private snapshot(): Progress {
    const { bytesDone, bytesTotal } = this.latest;
    const pct = bytesDone !== undefined && bytesTotal ? Math.floor((bytesDone * 1000) / bytesTotal) / 10 : undefined;
    return pct === undefined ? this.latest : { ...this.latest, pct };
  }

  stop(): void {
    clearInterval(this.timer);
    Context.current().heartbeat(this.snapshot());
  }
}

/** Runs an activity body, converting thrown errors into typed failures. */
export async function activity<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await body(Context.current().cancellationSignal);
  } catch (err) {
    throw toFailure(err);
  }
}
