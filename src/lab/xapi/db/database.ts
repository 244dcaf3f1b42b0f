// The lab's XAPI database: one table per class, every row a complete record, a global generation counter bumped
// by every write, and per-row creation/modification generations plus deletion tombstones, from which event.from
// computes coalesced add/mod/del events since a token. Writers are synchronous (one JS turn = one transaction);
// long-poll readers wait on `changed()`.
import { randomUUID } from 'node:crypto';
import { classSpec, TABLE_NAMES } from '../datamodel/classes.js';
import { NULL_REF, zeroValue } from '../datamodel/types.js';
import { apiError } from '../api/errors.js';

export type Row = Record<string, unknown>;

interface RowMeta {
  cls: string;
  created: number;
  modified: number;
}

interface Tombstone {
  cls: string;
  ref: string;
  created: number;
  deleted: number;
}

export interface DbEvent {
  id: string;
  timestamp: string;
  class: string;
  operation: 'add' | 'mod' | 'del';
  ref: string;
  snapshot?: Row;
}

/** Tables that do not survive a restart (XAPI drops sessions and tasks when its toolstack restarts). */
export const VOLATILE_TABLES = new Set(['session', 'task']);

/** Tables whose changes are not published as events. */
const SILENT_TABLES = new Set(['session']);

const MAX_TOMBSTONES = 50_000;

export interface PersistedDatabase {
  generation: number;
  prunedUpTo: number;
  tables: Record<string, Record<string, Row>>;
  meta: Record<string, [number, number]>;
  tombstones: Tombstone[];
}

export function newRef(): string {
  return `OpaqueRef:${randomUUID()}`;
}

export function newUuid(): string {
  return randomUUID();
}

/** A record of `cls` with every field: the given values over the constructor defaults over type zeros. */
export function completeRecord(cls: string, values: Row): Row {
  const row: Row = {};
  for (const f of classSpec(cls).fields) {
    if (Object.hasOwn(values, f.name) && values[f.name] !== undefined) row[f.name] = values[f.name];
    else row[f.name] = f.hasDefault ? structuredClone(f.defaultValue) : zeroValue(f.type);
  }
  return row;
}

export class Database {
  private readonly tables = new Map<string, Map<string, Row>>(TABLE_NAMES.map((t) => [t, new Map()]));
  private readonly meta = new Map<string, RowMeta>();
  private tombstones: Tombstone[] = [];
  private gen = 0;
  /** Tokens older than this cannot be served (tombstones pruned): EVENTS_LOST. */
  private prunedUpTo = 0;
  private readonly listeners = new Set<() => void>();

  get generation(): number {
    return this.gen;
  }

  get oldestServableGeneration(): number {
    return this.prunedUpTo;
  }

  /** Called after every write (persistence, event waiters). */
  onWrite(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  table(cls: string): Map<string, Row> {
    const t = this.tables.get(cls);
    if (!t) throw new Error(`no table ${cls}`);
    return t;
  }

  get(cls: string, ref: string): Row | undefined {
    return this.tables.get(cls)?.get(ref);
  }

  /** The row, or HANDLE_INVALID [cls, ref] (also for OpaqueRef:NULL and refs of other classes). */
  require(cls: string, ref: string): Row {
    const row = this.get(cls, ref);
    if (!row) throw apiError('HANDLE_INVALID', cls, ref);
    return row;
  }

  classOf(ref: string): string | undefined {
    return this.meta.get(ref)?.cls;
  }

  findByUuid(cls: string, uuid: string): string | undefined {
    for (const [ref, row] of this.table(cls)) if (row.uuid === uuid) return ref;
    return undefined;
  }

  /** Rows of a class as [ref, row] pairs (a copy of the list: safe to mutate the table while iterating). */
  rows(cls: string): Array<[string, Row]> {
    return [...this.table(cls)];
  }

  insert(cls: string, ref: string, values: Row): Row {
    if (ref === NULL_REF || this.meta.has(ref)) throw new Error(`duplicate ref ${ref}`);
    const row = completeRecord(cls, values);
    const gen = this.bumpQuiet();
    this.table(cls).set(ref, row);
    this.meta.set(ref, { cls, created: gen, modified: gen });
    this.notify();
    return row;
  }

  /** Applies `mutate` to the row (which must exist) and records one modification. */
  update(cls: string, ref: string, mutate: (row: Row) => void): Row {
    const row = this.require(cls, ref);
    mutate(row);
    // Records keep exactly their class's fields (clients freeze a class's field list from its first record).
    const fields = classSpec(cls).fieldByName;
    for (const key of Object.keys(row)) if (!fields.has(key)) delete row[key];
    const meta = this.meta.get(ref);
    const gen = this.bumpQuiet();
    if (meta) meta.modified = gen;
    this.notify();
    return row;
  }

  set(cls: string, ref: string, values: Row): Row {
    return this.update(cls, ref, (row) => Object.assign(row, values));
  }

  /** A write that changes nothing but produces a `mod` event (event.inject). */
  touch(cls: string, ref: string): number {
    const before = this.gen;
    this.update(cls, ref, () => {});
    return before;
  }

  delete(cls: string, ref: string): void {
    const table = this.table(cls);
    if (!table.has(ref)) return;
    table.delete(ref);
    const meta = this.meta.get(ref);
    this.meta.delete(ref);
    const gen = this.bumpQuiet();
    this.tombstones.push({ cls, ref, created: meta?.created ?? 0, deleted: gen });
    if (this.tombstones.length > MAX_TOMBSTONES) {
      const dropped = this.tombstones.splice(0, this.tombstones.length - MAX_TOMBSTONES);
      this.prunedUpTo = dropped[dropped.length - 1]?.deleted ?? this.prunedUpTo;
    }
    this.notify();
  }

  private bumpQuiet(): number {
    this.gen += 1;
    return this.gen;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Row counts per table, lowercase names (event.from's valid_ref_counts). */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [cls, table] of this.tables) out[cls.toLowerCase()] = table.size;
    return out;
  }

  /**
   * Coalesced events since generation `since` for the objects `matches` accepts: one per object, `add` for
   * objects created after `since`, `mod` for older ones, `del` for deleted ones that existed before `since`.
   */
  eventsSince(since: number, matches: (cls: string, ref: string) => boolean): DbEvent[] {
    const out: Array<DbEvent & { gen: number }> = [];
    for (const [ref, meta] of this.meta) {
      if (meta.modified <= since || SILENT_TABLES.has(meta.cls) || !matches(meta.cls, ref)) continue;
      const row = this.get(meta.cls, ref);
      if (!row) continue;
      out.push({
        gen: meta.modified,
        id: String(meta.modified),
        timestamp: '0.0',
        class: meta.cls.toLowerCase(),
        operation: meta.created > since ? 'add' : 'mod',
        ref,
        snapshot: structuredClone(row),
      });
    }
    for (const t of this.tombstones) {
      if (t.deleted <= since || t.created > since || SILENT_TABLES.has(t.cls) || !matches(t.cls, t.ref)) continue;
      out.push({
        gen: t.deleted,
        id: String(t.deleted),
        timestamp: '0.0',
        class: t.cls.toLowerCase(),
        operation: 'del',
        ref: t.ref,
      });
    }
    out.sort((a, b) => a.gen - b.gen);
    return out.map(({ gen: _gen, ...event }) => event);
  }

  /** Serializable state of the durable tables. */
  persist(): PersistedDatabase {
    const tables: Record<string, Record<string, Row>> = {};
    const meta: Record<string, [number, number]> = {};
    for (const [cls, table] of this.tables) {
      if (VOLATILE_TABLES.has(cls)) continue;
      tables[cls] = Object.fromEntries(table);
      for (const ref of table.keys()) {
        const m = this.meta.get(ref);
        if (m) meta[ref] = [m.created, m.modified];
      }
    }
    return {
      generation: this.gen,
      prunedUpTo: this.prunedUpTo,
      tables,
      meta,
      tombstones: this.tombstones.filter((t) => !VOLATILE_TABLES.has(t.cls)),
    };
  }

  /** Loads persisted state; records gain fields the datamodel added since (identical field sets per class). */
  load(state: PersistedDatabase): void {
    this.gen = state.generation;
    this.prunedUpTo = state.prunedUpTo;
    this.tombstones = state.tombstones;
    for (const [cls, rows] of Object.entries(state.tables)) {
      const table = this.tables.get(cls);
      if (!table) continue;
      for (const [ref, row] of Object.entries(rows)) {
        table.set(ref, completeRecord(cls, row));
        const [created, modified] = state.meta[ref] ?? [0, 0];
        this.meta.set(ref, { cls, created, modified });
      }
    }
  }
}
