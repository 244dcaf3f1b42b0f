// The undo side of a build (samples-typescript `saga`): compensations registered as things are made, run newest
// first when the build fails or is cancelled. The verified image is the commit point: from then on nothing
// undoes anything. A build that keeps its leftovers for debugging still runs the compensations that remove its
// secrets (the answer ISO) or give the operator back what is theirs (a source VM started again).
import { ApplicationFailure, CancellationScope, isCancellation, log } from '@temporalio/workflow';
import { failureText, rootCause } from './failures.js';
import type { BuildTracker } from './tracker.js';

export interface CompensationOutcome {
  name: string;
  ok: boolean;
  error?: string;
}

interface Compensation {
  name: string;
  undo: () => Promise<unknown>;
  /** Runs even when the operator keeps the leftovers (it removes a secret or restores the operator's VM, not evidence). */
  evenWhenKept: boolean;
}

export class Compensations {
  private items: Compensation[] = [];
  private committed = false;

  add(name: string, undo: () => Promise<unknown>, options: { evenWhenKept?: boolean } = {}): void {
    if (this.committed) throw new Error(`compensation "${name}" added after the commit point`);
    if (!this.items.some((i) => i.name === name))
      this.items.unshift({ name, undo, evenWhenKept: options.evenWhenKept ?? false });
  }

  names(): string[] {
    return this.items.map((i) => i.name);
  }

  /** The image is verified: it is the product, and nothing registered so far may undo it or anything else. */
  commit(): void {
    this.committed = true;
    this.items = [];
  }

  /** Runs the compensations (all, or only those that remove secrets) even when the workflow is being cancelled. */
  async run(which: 'all' | 'secrets' = 'all'): Promise<CompensationOutcome[]> {
    const chosen = this.items.filter((i) => which === 'all' || i.evenWhenKept);
    return CancellationScope.nonCancellable(async () => {
      const outcomes: CompensationOutcome[] = [];
      for (const { name, undo } of chosen) {
        try {
          await undo();
          outcomes.push({ name, ok: true });
        } catch (err) {
          const error = failureText(err);
          log.warn('compensation failed', { name, error });
          outcomes.push({ name, ok: false, error });
        }
      }
      return outcomes;
    });
  }
}

/**
 * The common ending of a failed build: clean up (unless the operator keeps the leftovers, which are then listed in
 * the failure; their secrets go anyway), record the state, and return the error to rethrow.
 */
export async function failBuild(
  tracker: BuildTracker,
  saga: Compensations,
  err: unknown,
  keep: { keepOnFailure: boolean; listLeftovers?: () => Promise<string[]> },
): Promise<unknown> {
  const cancelled = isCancellation(err);
  if (keep.keepOnFailure) {
    tracker.setState('cleaning-up');
    const removed = await saga.run('secrets');
    for (const o of removed.filter((r) => !r.ok)) tracker.warn(`${o.name}: ${o.error ?? 'failed'}`);
    const kept = await CancellationScope.nonCancellable(async () =>
      keep.listLeftovers ? keep.listLeftovers().catch(() => saga.names()) : saga.names(),
    );
    tracker.setState(cancelled ? 'cancelled' : 'failed');
    if (cancelled) log.warn('cancelled; leftovers kept for debugging', { kept });
    if (cancelled || kept.length === 0) return err;
    const root = rootCause(err);
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
  const outcomes = await saga.run('all');
  tracker.setState(cancelled ? 'cancelled' : 'failed');
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) log.error('cleanup incomplete', { failed });
  return err;
}
