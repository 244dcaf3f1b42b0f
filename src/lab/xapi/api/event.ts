// event.from and event.inject (xapi_event.ml): a long poll over the database's generations, coalesced per object
// (add/mod with the full current record, del without one), `valid_ref_counts` for every table, opaque tokens
// "%020d,%020d"; subscriptions by class (any case), "*", or "class/ref"; unknown classes are ignored.
import { classByLowerName } from '../datamodel/classes.js';
import { T, type XType } from '../datamodel/types.js';
import type { DbEvent } from '../db/database.js';
import { type CallContext, type Handler, Typed } from './context.js';
import { apiError } from './errors.js';
import { hold } from '../faults.js';

/** Events are held this long after the first change so a burst comes back in one batch (XAPI: ≤ 50 ms). */
const BATCH_MS = 20;
const STALL_MS = 70_000;

export function formatToken(generation: number): string {
  return `${String(generation).padStart(20, '0')},${'0'.padStart(20, '0')}`;
}

function parseToken(token: string): number {
  if (token === '') return 0;
  const m = /^(\d+),(\d+)$/.exec(token);
  if (!m) throw apiError('EVENT_FROM_TOKEN_PARSE_FAILURE', token);
  return Number(m[1]);
}

function subscription(classes: readonly string[]): {
  matches: (cls: string, ref: string) => boolean;
  taskOnly: boolean;
} {
  let all = false;
  const byClass = new Set<string>();
  const byObject = new Set<string>();
  for (const c of classes) {
    if (c === '*') all = true;
    else if (c.includes('/')) {
      const [cls = '', ref = ''] = c.split('/', 2) as [string, string];
      byObject.add(`${cls.toLowerCase()}/${ref}`);
    } else byClass.add(c.toLowerCase());
  }
  const taskOnly = !all && byObject.size === 0 && byClass.size === 1 && byClass.has('task');
  return {
    matches: (cls, ref) => all || byClass.has(cls.toLowerCase()) || byObject.has(`${cls.toLowerCase()}/${ref}`),
    taskOnly,
  };
}

function eventType(e: DbEvent): XType {
  const cls = classByLowerName(e.class) ?? e.class;
  return {
    k: 'struct',
    fields: [
      ['id', T.string],
      ['timestamp', T.string],
      ['class', T.string],
      ['operation', T.string],
      ['ref', T.string],
      ['snapshot', T.record(cls)],
    ],
    optional: new Set(['snapshot']),
  };
}

function batch(ctx: CallContext, events: DbEvent[], generation: number): Typed {
  const type: XType = {
    k: 'struct',
    fields: [
      ['events', { k: 'list', items: events.map(eventType) }],
      ['valid_ref_counts', T.map(T.string, T.int32)],
      ['token', T.string],
    ],
  };
  return new Typed({ events, valid_ref_counts: ctx.core.db.counts(), token: formatToken(generation) }, type);
}

/** Resolves on the next database write, the session's logout, the lab's stop, or after `ms`. */
function nextChange(ctx: CallContext, ms: number): Promise<void> {
  const { db, sessions, stopping } = ctx.core;
  return new Promise((resolve) => {
    const cleanups: Array<() => void> = [];
    const done = () => {
      for (const c of cleanups) c();
      resolve();
    };
    const timer = setTimeout(done, ms);
    cleanups.push(() => clearTimeout(timer));
    cleanups.push(db.onWrite(done));
    cleanups.push(sessions.onLogout((s) => s === ctx.session && done()));
    stopping.addEventListener('abort', done, { once: true });
    cleanups.push(() => stopping.removeEventListener('abort', done));
  });
}

async function from(ctx: CallContext, classes: string[], token: string, timeout: number): Promise<Typed> {
  const { db, sessions, faults, stopping } = ctx.core;
  const since = parseToken(token);
  if (since < db.oldestServableGeneration) throw apiError('EVENTS_LOST');
  const stall = faults.take(['eventStall'], 'event.from');
  if (stall) await hold(stall.delayMs ?? STALL_MS, stopping);
  const { matches, taskOnly } = subscription(classes);
  const deadline = Date.now() + Math.max(0, timeout) * 1000;
  for (;;) {
    if (!sessions.isValid(ctx.session)) throw apiError('SESSION_INVALID', ctx.session);
    let events = db.eventsSince(since, matches);
    if (events.length > 0) {
      if (!taskOnly) {
        await hold(BATCH_MS, stopping);
        events = db.eventsSince(since, matches);
      }
      return batch(ctx, events, db.generation);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0 || stopping.aborted) return batch(ctx, [], db.generation);
    await nextChange(ctx, remaining);
  }
}

export const eventHandlers: Record<string, Handler> = {
  'event.from': (ctx, [classes, token, timeout]) => from(ctx, classes as string[], token as string, timeout as number),
  'event.inject': (ctx, [cls, ref]) => {
    const table = classByLowerName(cls as string);
    if (!table || !ctx.core.db.get(table, ref as string))
      throw apiError('HANDLE_INVALID', cls as string, ref as string);
    return formatToken(ctx.core.db.touch(table, ref as string));
  },
  'event.get_current_id': (ctx) => ctx.core.db.generation,
};
