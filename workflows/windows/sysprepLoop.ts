// Sysprep until the image is generalized: a known failure is reverted to the pre-sysprep snapshot, remedied and
// retried on its own (bounded); anything else — an unknown failure, a remedy that needs what the failure did not
// name, a remedy that failed, attempts exhausted — waits for the operator's retrySysprep or abandon update.
// SysprepAttempts holds the handlers' state in one place (samples-typescript `safe-message-handlers` style): the
// attempts, the failure the operator is asked about, and the operator's decision.
import { ActivityFailure, ApplicationFailure, condition, isCancellation, setHandler } from '@temporalio/workflow';
import type { GuestConnection } from '../../activities/index.js';
import { durationMs } from '../../src/contracts/duration.js';
import {
  REMEDY_NAME,
  type AbandonRequest,
  type RetrySysprepRequest,
  type SysprepAttemptRecord,
} from '../../src/contracts/messages.js';
import type { WindowsImageParams } from '../../src/contracts/windowsInput.js';
import { failureText, rootCause } from '../build/failures.js';
import type { BuildActivities } from '../build/proxies.js';
import type { BuildTracker } from '../build/tracker.js';
import { abandonUpdate, retrySysprepUpdate } from '../messages.js';
import type { GuestLogBook } from './guestLogs.js';

/** Why an attempt failed: a typed sysprep failure, or the remedy applied before it. */
export interface AttemptFailure {
  type: string;
  message: string;
  details?: Record<string, unknown>;
  /** The remedy failed (the attempt never ran sysprep): only the operator decides what next. */
  remedyFailed: boolean;
}

export type OperatorDecision = { kind: 'retry'; remedy?: string } | { kind: 'abandon'; reason?: string };

/** Remedies the engine applies on its own; undefined: the operator decides. */
function automaticRemedy(failure: AttemptFailure): string | undefined {
  if (failure.remedyFailed) return undefined;
  // remove-appx needs the package Panther named; without one only the operator can say what to do.
  if (failure.type === 'SysprepAppxFailure')
    return typeof failure.details?.package === 'string' ? 'remove-appx' : undefined;
  if (failure.type === 'SysprepReservedStorage') return 'reboot';
  if (failure.type === 'SysprepUndeployable') return 'none';
  return undefined;
}

/** The attempts of one build, the failure the operator is asked about, and the operator's answer. */
export class SysprepAttempts {
  readonly records: SysprepAttemptRecord[] = [];
  private last: AttemptFailure | undefined;
  private awaitingOperator = false;
  private decision: OperatorDecision | undefined;

  constructor(private readonly build: BuildTracker) {
    build.progress.sysprepAttempts = this.records;
    setHandler(retrySysprepUpdate, (req) => this.retry(req), {
      description:
        'Retry sysprep from the pre-sysprep snapshot, optionally with a remedy: remove-appx, reboot, none or script:<name>',
      validator: (req) => this.validateRetry(req),
    });
    setHandler(abandonUpdate, (req) => this.abandon(req), {
      description: 'Give up this build: clean up everything it made',
      validator: (_req) => this.requireAwaitingOperator(),
    });
  }

  /** The latest sysprep failure (not a remedy's): what a remedy acts on (remove-appx takes its package). */
  get lastSysprepFailure(): AttemptFailure | undefined {
    return this.last;
  }

  succeeded(attempt: number, remedy: string | undefined): void {
    this.records.push({ attempt, outcome: 'succeeded', ...(remedy ? { remedy } : {}) });
  }

  failed(attempt: number, failure: AttemptFailure, remedy: string | undefined): void {
    if (!failure.remedyFailed) this.last = failure;
    const excerpt = Array.isArray(failure.details?.log) ? (failure.details.log as unknown[]).map(String) : undefined;
    this.records.push({
      attempt,
      outcome: 'failed',
      failureType: failure.type,
      ...(excerpt ? { pantherExcerpt: excerpt } : {}),
      ...(remedy ? { remedy } : {}),
    });
  }

  /** Waits for retrySysprep or abandon; no answer within the timeout fails the build (typed). */
  async askOperator(attempt: number, failure: AttemptFailure, timeout: string): Promise<{ remedy?: string }> {
    this.takeDecision();
    this.awaitingOperator = true;
    this.build.setState(
      'awaiting-operator',
      `sysprep attempt ${attempt} failed (${failure.type}): update retrySysprep {remedy?} or abandon`,
    );
    const answered = await condition(() => this.decision !== undefined, durationMs(timeout));
    this.awaitingOperator = false;
    this.build.setState('running');
    const decision = this.takeDecision();
    if (!answered || decision === undefined)
      throw ApplicationFailure.nonRetryable(
        `no operator decision within ${timeout} after sysprep failed (${failure.type})`,
        'OperatorTimeout',
      );
    if (decision.kind === 'abandon')
      throw ApplicationFailure.nonRetryable(
        `abandoned by the operator${decision.reason ? `: ${decision.reason}` : ''}`,
        'Abandoned',
      );
    return decision.remedy ? { remedy: decision.remedy } : {};
  }

  /** The operator's answer, once: the next failure asks again. */
  private takeDecision(): OperatorDecision | undefined {
    const decision = this.decision;
    this.decision = undefined;
    return decision;
  }

  private requireAwaitingOperator(): void {
    if (!this.awaitingOperator) throw new Error('this build is not waiting for an operator');
  }

  /** The request may be absent (an update sent without arguments). */
  private validateRetry(req: RetrySysprepRequest): void {
    this.requireAwaitingOperator();
    const remedy = req?.remedy;
    if (remedy === undefined) return;
    if (!REMEDY_NAME.test(remedy))
      throw new Error(`unknown remedy "${remedy}": remove-appx, reboot, none or script:<name>`);
    if (remedy === 'remove-appx' && typeof this.last?.details?.package !== 'string')
      throw new Error('remove-appx needs a failure that named an AppX package, and the last one named none');
  }

  private retry(req: RetrySysprepRequest): { accepted: true; attempt: number } {
    this.decision = { kind: 'retry', ...(req?.remedy ? { remedy: req.remedy } : {}) };
    return { accepted: true, attempt: this.records.length + 1 };
  }

  private abandon(req: AbandonRequest): { accepted: true } {
    this.decision = { kind: 'abandon', ...(req?.reason ? { reason: req.reason } : {}) };
    return { accepted: true };
  }
}

/** What the loop works with. */
export interface SysprepSession {
  build: BuildTracker;
  attempts: SysprepAttempts;
  logs: GuestLogBook;
  xen: BuildActivities;
  waits: BuildActivities;
  pool: string;
  vm: string;
  /** The build identity (the revert tags the new disk with it). */
  id: string;
  snapshot: string;
  input: Pick<WindowsImageParams, 'sysprep' | 'timeouts'>;
  /** The guest's WinRM connection at an address (it may change after a revert). */
  guestAt: (address: string) => GuestConnection;
}

/** The typed failure of an attempt's sysprep, or undefined for anything else (which fails the build). */
function sysprepFailure(err: unknown): AttemptFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure) || !cause.type?.startsWith('Sysprep')) return undefined;
  const details = cause.details?.[0];
  return {
    type: cause.type,
    message: cause.message,
    details: details && typeof details === 'object' ? (details as Record<string, unknown>) : undefined,
    remedyFailed: false,
  };
}

/** A failed remedy activity as an attempt failure (the operator decides); cancellation and bugs pass through. */
function remedyFailure(err: unknown, remedy: string): AttemptFailure {
  if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
  const cause = rootCause(err);
  const type = cause instanceof ApplicationFailure ? cause.type : undefined;
  return {
    type: 'RemedyFailed',
    message: `remedy ${remedy} failed: ${failureText(err)}`,
    details: { remedy, ...(type ? { cause: type } : {}) },
    remedyFailed: true,
  };
}

/** Power off, revert to the pre-sysprep snapshot, start, and wait for the guest and WinRM again. */
async function revertToSnapshot(s: SysprepSession, attempt: number): Promise<GuestConnection> {
  const { build, xen, waits, pool, vm } = s;
  await build.step(
    'revert to snapshot',
    async () => {
      await xen.hardShutdown({ pool, vm });
      await xen.revert({ pool, build: s.id, snapshot: s.snapshot });
      await xen.startVm({ pool, vm });
    },
    undefined,
    attempt,
  );
  const back = await build.step(
    'wait for guest',
    () => waits.waitForGuest({ pool, vm, timeoutMs: durationMs(s.input.timeouts.install) }),
    undefined,
    attempt,
  );
  const guest = s.guestAt(back.ip);
  await build.step('WinRM', () => waits.waitForWinrm({ guest }), undefined, attempt);
  return guest;
}

/**
 * Runs sysprep (the guest stays up afterwards, for its logs) until it generalizes the image, and returns the guest
 * connection of the successful attempt.
 */
export async function sysprepUntilGeneralized(s: SysprepSession, first: GuestConnection): Promise<GuestConnection> {
  const { build, attempts, waits } = s;
  let guest = first;
  let remedy: string | undefined;
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) guest = await revertToSnapshot(s, attempt);
    let failure: AttemptFailure | undefined;
    if (remedy !== undefined && remedy !== 'none') {
      const chosen = remedy;
      const last = attempts.lastSysprepFailure;
      try {
        const applied = await build.step(
          'remedy',
          () =>
            waits.applySysprepRemedy({
              guest,
              remedy: chosen,
              ...(last ? { failure: { type: last.type, ...(last.details ? { details: last.details } : {}) } } : {}),
            }),
          (r) => r.applied,
          attempt,
        );
        // A reboot remedy may have moved the guest to a new address.
        if (applied.address && applied.address !== guest.address) guest = s.guestAt(applied.address);
      } catch (err) {
        failure = remedyFailure(err, chosen);
      }
    }
    if (failure === undefined) {
      try {
        await build.step(
          'sysprep',
          () => waits.runSysprep({ guest, shutdown: false, timeoutSec: durationMs(s.input.timeouts.sysprep) / 1000 }),
          (r) => r.imageState,
          attempt,
        );
        attempts.succeeded(attempt, remedy);
        return guest;
      } catch (err) {
        failure = sysprepFailure(err);
        if (!failure) throw err;
      }
    }
    attempts.failed(attempt, failure, remedy);
    await s.logs.collect('sysprep failed', attempt, guest);
    const automatic = automaticRemedy(failure);
    if (automatic !== undefined && attempt < s.input.sysprep.maxAttempts) {
      remedy = automatic;
      continue;
    }
    if (s.input.sysprep.onUnknownFailure === 'fail')
      throw ApplicationFailure.nonRetryable(failure.message, failure.type, failure.details);
    const answer = await attempts.askOperator(attempt, failure, s.input.sysprep.operatorTimeout);
    remedy = answer.remedy ?? automatic ?? 'none';
  }
}
