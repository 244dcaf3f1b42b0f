// Tasks: records for Async calls, HTTP transfers and client-created tasks, with XAPI's completion rules
// (TaskHelper.complete: progress 1, finished, result as XML-RPC text, then status) and cancellation
// (cancellable operations end `cancelled` with TASK_CANCELLED; other tasks are only marked).
import type { Database } from '../db/database.js';
import { newRef, newUuid } from '../db/database.js';
import { EPOCH, xapiDate } from '../datamodel/types.js';
import { apiError } from './errors.js';

interface LiveTask {
  controller: AbortController;
  cancellable: boolean;
  destroyRequested: boolean;
}

export class TaskCancelledError extends Error {}

export class TaskManager {
  private readonly live = new Map<string, LiveTask>();

  constructor(
    private readonly db: Database,
    private readonly residentOn: () => string,
  ) {}

  create(label: string, description = '', options: { cancellable?: boolean } = {}): string {
    const ref = newRef();
    this.db.insert('task', ref, {
      uuid: newUuid(),
      name_label: label,
      name_description: description,
      allowed_operations: options.cancellable ? ['cancel'] : [],
      current_operations: {},
      created: xapiDate(),
      finished: EPOCH,
      status: 'pending',
      resident_on: this.residentOn(),
      progress: 0,
      type: '<none/>',
      result: '',
      error_info: [],
      other_config: {},
      backtrace: '()',
    });
    this.live.set(ref, {
      controller: new AbortController(),
      cancellable: options.cancellable === true,
      destroyRequested: false,
    });
    return ref;
  }

  /** Lets a running operation be cancelled (HTTP handlers bind client-created tasks this way). */
  makeCancellable(ref: string): void {
    const live = this.live.get(ref);
    if (!live || this.status(ref) !== 'pending') return;
    live.cancellable = true;
    this.db.set('task', ref, { allowed_operations: ['cancel'] });
  }

  status(ref: string): string | undefined {
    return this.db.get('task', ref)?.status as string | undefined;
  }

  isPending(ref: string): boolean {
    const s = this.status(ref);
    return s === 'pending' || s === 'cancelling';
  }

  /** Aborted when the task is cancelled. */
  signal(ref: string): AbortSignal {
    return this.live.get(ref)?.controller.signal ?? new AbortController().signal;
  }

  setProgress(ref: string, progress: number): void {
    if (!this.isPending(ref)) return;
    const rounded = Math.round(Math.min(1, Math.max(0, progress)) * 100) / 100;
    if (this.db.get('task', ref)?.progress === rounded) return;
    this.db.set('task', ref, { progress: rounded });
  }

  succeed(ref: string, resultXml: string): void {
    if (!this.isPending(ref)) return;
    this.db.set('task', ref, {
      progress: 1,
      finished: xapiDate(),
      result: resultXml,
      status: 'success',
      allowed_operations: [],
    });
    this.settle(ref);
  }

  fail(ref: string, description: readonly string[]): void {
    if (!this.isPending(ref)) return;
    const cancelled = description[0] === 'TASK_CANCELLED';
    this.db.set('task', ref, {
      progress: 1,
      error_info: [...description],
      finished: xapiDate(),
      status: cancelled ? 'cancelled' : 'failure',
      allowed_operations: [],
    });
    this.settle(ref);
  }

  private settle(ref: string): void {
    const live = this.live.get(ref);
    this.live.delete(ref);
    this.db.set('task', ref, { current_operations: {} });
    if (live?.destroyRequested) this.db.delete('task', ref);
  }

  /** task.cancel */
  cancel(ref: string): void {
    const row = this.db.require('task', ref);
    const live = this.live.get(ref);
    if (!live || !this.isPending(ref)) return;
    const ops = { ...(row.current_operations as Record<string, string>), [ref]: 'cancel' };
    if (live.cancellable) {
      this.db.set('task', ref, { status: 'cancelling', current_operations: ops });
      live.controller.abort(new TaskCancelledError(ref));
    } else {
      this.db.set('task', ref, { current_operations: ops });
    }
  }

  /** task.destroy: finished tasks go at once; pending ones are marked (current_operations {task: destroy}) and go when they finish. */
  destroy(ref: string): void {
    const row = this.db.require('task', ref);
    const live = this.live.get(ref);
    if (live && this.isPending(ref)) {
      live.destroyRequested = true;
      this.db.set('task', ref, {
        current_operations: { ...(row.current_operations as Record<string, string>), task: 'destroy' },
      });
      return;
    }
    this.db.delete('task', ref);
  }

  /** task.set_status by a client: a finished task marked for destruction goes now. */
  clientSetStatus(ref: string, status: string): void {
    this.db.require('task', ref);
    const patch: Record<string, unknown> = { status };
    if (status !== 'pending' && status !== 'cancelling') patch.finished = xapiDate();
    this.db.set('task', ref, patch);
    const live = this.live.get(ref);
    if (live && status !== 'pending' && status !== 'cancelling') {
      this.live.delete(ref);
      if (live.destroyRequested) this.db.delete('task', ref);
    }
  }

  /** Throws TASK_CANCELLED when the task has been cancelled (checked between steps of an operation). */
  checkCancelled(ref: string | undefined): void {
    if (ref && this.live.get(ref)?.controller.signal.aborted) throw apiError('TASK_CANCELLED', ref);
  }
}
