// What loads a pool, bounded per pool and resource (exports, imports, starts): a first-come first-served slot
// queue for this worker process. Waiting for a slot is cheap (a promise), is cancellable and is reported, so a
// build beyond the limit shows as queued, not failed (docs/decisions/builds-0003-pool-load-and-waits.md).
import { XenimageError } from '../errors.js';
import type { PoolLimits, PoolResource } from './pools.js';

interface Waiter {
  grant: () => void;
}

/** One resource of one pool: `running` holders at most `limit` (read anew at every acquire). */
class SlotQueue {
  running = 0;
  readonly waiting: Waiter[] = [];

  release(limit: number): void {
    this.running -= 1;
    this.drain(limit);
  }

  drain(limit: number): void {
    while (this.running < limit && this.waiting.length) {
      this.running += 1;
      this.waiting.shift()!.grant();
    }
  }
}

export interface SlotWait {
  /** Holders of the resource when the wait began, and the limit. */
  running: number;
  limit: number;
  /** Builds ahead in the queue. */
  ahead: number;
}

export class PoolSlots {
  private readonly queues = new Map<string, SlotQueue>();

  /** `limitsOf` gives a pool's limits (the pools file's `limits`, defaults otherwise). */
  constructor(private readonly limitsOf: (pool: string) => Promise<PoolLimits>) {}

  private queue(pool: string, resource: PoolResource): SlotQueue {
    const key = `${pool}\u0000${resource}`;
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = new SlotQueue()));
    return q;
  }

  /**
   * Runs `body` holding one slot of the pool's resource. When none is free, `onQueued` is told (once) and the call
   * waits its turn; an abort while waiting leaves the queue and rejects with the signal's reason.
   */
  async run<T>(
    pool: string,
    resource: PoolResource,
    body: () => Promise<T>,
    options: { signal?: AbortSignal; onQueued?: (wait: SlotWait) => void; onGranted?: () => void } = {},
  ): Promise<T> {
    const limit = (await this.limitsOf(pool))[resource];
    const q = this.queue(pool, resource);
    if (q.running < limit && q.waiting.length === 0) {
      q.running += 1;
    } else {
      options.onQueued?.({ running: q.running, limit, ahead: q.waiting.length });
      await new Promise<void>((resolve, reject) => {
        const signal = options.signal;
        const waiter: Waiter = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          const at = q.waiting.indexOf(waiter);
          if (at >= 0) q.waiting.splice(at, 1);
          reject(
            signal?.reason instanceof Error
              ? signal.reason
              : new XenimageError('Aborted', `waiting for a ${resource} slot of pool ${pool} was aborted`),
          );
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        q.waiting.push(waiter);
      });
      options.onGranted?.();
    }
    try {
      return await body();
    } finally {
      q.release((await this.limitsOf(pool).catch(() => undefined))?.[resource] ?? limit);
    }
  }

  /** Holders and waiters of a pool's resource (for tests and benchmarks). */
  state(pool: string, resource: PoolResource): { running: number; waiting: number } {
    const q = this.queue(pool, resource);
    return { running: q.running, waiting: q.waiting.length };
  }
}
