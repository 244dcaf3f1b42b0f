// Tracks a build for its operators: the steps (with start and end times from the workflow clock) behind the
// `progress` query, the XenimageStep search attribute and the log, the bytes a transfer reports, and the warnings
// of failures the build survives after its commit point.
import { CancellationScope, log, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { BuildProgress, BuildState, StepRecord } from '../../src/contracts/messages.js';
import { XenimageImage, XenimageKind, XenimagePool, XenimageStep } from '../../src/contracts/searchAttributes.js';
import { activityProgressSignal, progressQuery } from '../messages.js';
import { enterStep, showDetails } from './console.js';
import { failureText } from './failures.js';

function now(): string {
  return new Date().toISOString();
}

export class BuildTracker {
  readonly progress: BuildProgress;

  constructor(kind: string) {
    this.progress = { kind, state: 'running', step: 'validate', attempt: 1, steps: [] };
    setHandler(progressQuery, () => this.progress, {
      description: 'The build: state, steps with start/end times, bytes of a transfer, sysprep attempts, guest logs',
    });
    showDetails(this.progress);
    setHandler(
      activityProgressSignal,
      (p) => {
        this.progress.attempt = p.attempt;
        this.progress.bytesDone = p.bytesDone;
        this.progress.bytesTotal = p.bytesTotal;
        this.progress.queuedFor = p.queuedFor;
        // The step keeps what it waited for: a build beyond the pool's limit was queued, not failed.
        const current = this.progress.steps.at(-1);
        if (p.queuedFor && current?.status === 'running') current.queuedFor = p.queuedFor;
        showDetails(this.progress);
      },
      { description: "Sent by the build's own long activities: bytes done, attempt, queueing" },
    );
    upsertSearchAttributes([
      { key: XenimageKind, value: kind },
      { key: XenimageStep, value: 'validate' },
    ]);
  }

  /** The image, pool and identity of the build, once its input is valid. */
  describe(image: string, pool: string | undefined, build: string): void {
    this.progress.build = build;
    upsertSearchAttributes([
      { key: XenimageImage, value: image },
      ...(pool ? [{ key: XenimagePool, value: pool }] : []),
    ]);
  }

  private enter(step: string, attempt: number): StepRecord {
    const record: StepRecord = { step, status: 'running', attempt, startedAt: now() };
    this.progress.steps.push(record);
    this.progress.step = step;
    this.progress.attempt = attempt;
    this.progress.bytesDone = undefined;
    this.progress.bytesTotal = undefined;
    this.progress.queuedFor = undefined;
    upsertSearchAttributes([{ key: XenimageStep, value: step }]);
    enterStep(step);
    showDetails(this.progress);
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
      record.note = failureText(err);
      throw err;
    } finally {
      record.endedAt = now();
    }
  }

  /**
   * A step after the commit point: it runs to its end even when the build is being cancelled, and its failure is
   * a warning of the build (in `progress` and the result), not a failure. Returns undefined when it failed.
   */
  async afterCommit<T>(name: string, run: () => Promise<T>, note?: (result: T) => string): Promise<T | undefined> {
    try {
      return await CancellationScope.nonCancellable(() => this.step(name, run, note));
    } catch (err) {
      this.warn(`${name}: ${failureText(err)}`);
      return undefined;
    }
  }

  warn(message: string): void {
    (this.progress.warnings ??= []).push(message);
    showDetails(this.progress);
    log.warn('build warning', { warning: message });
  }

  get warnings(): string[] {
    return this.progress.warnings ?? [];
  }

  skip(name: string, why: string): void {
    const at = now();
    this.progress.steps.push({ step: name, status: 'skipped', attempt: 0, note: why, startedAt: at, endedAt: at });
  }

  setState(state: BuildState, waitingFor?: string): void {
    this.progress.state = state;
    this.progress.waitingFor = waitingFor;
    if (state !== 'running') upsertSearchAttributes([{ key: XenimageStep, value: state }]);
    showDetails(this.progress);
  }
}
