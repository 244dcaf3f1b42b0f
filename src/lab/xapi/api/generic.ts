// The implicit messages every class gets from the datamodel: field getters, setters, map and set updaters
// (add_to_ of an existing key → MAP_DUPLICATE_KEY, remove_from_ of a missing key → no-op, set add/remove
// idempotent), get_record, get_all, get_all_records, get_by_uuid (UUID_INVALID), get_by_name_label (exact, may be
// empty). Every successful write is one database write, hence one `mod` event.
import type { MessageSpec } from '../datamodel/classes.js';
import { apiError } from './errors.js';
import type { Handler } from './context.js';

export function genericHandler(spec: MessageSpec): Handler | undefined {
  const { cls, field } = spec;
  switch (spec.kind) {
    case 'getter':
      if (spec.removed)
        return () => {
          throw apiError('MESSAGE_REMOVED');
        };
      return (ctx, [self]) => structuredClone(ctx.core.db.require(cls, self as string)[field!.name]);
    case 'setter':
      return (ctx, [self, value]) => {
        ctx.core.db.require(cls, self as string);
        ctx.core.db.set(cls, self as string, { [field!.name]: value });
        return '';
      };
    case 'map_add':
      return (ctx, [self, key, value]) => {
        const row = ctx.core.db.require(cls, self as string);
        const map = row[field!.name] as Record<string, unknown>;
        if (Object.hasOwn(map, key as string))
          throw apiError('MAP_DUPLICATE_KEY', cls, field!.name, self as string, key as string);
        ctx.core.db.update(cls, self as string, (r) => {
          r[field!.name] = { ...(r[field!.name] as object), [key as string]: value };
        });
        return '';
      };
    case 'map_remove':
      return (ctx, [self, key]) => {
        const row = ctx.core.db.require(cls, self as string);
        if (!Object.hasOwn(row[field!.name] as object, key as string)) return '';
        ctx.core.db.update(cls, self as string, (r) => {
          const next = { ...(r[field!.name] as Record<string, unknown>) };
          delete next[key as string];
          r[field!.name] = next;
        });
        return '';
      };
    case 'set_add':
      return (ctx, [self, value]) => {
        const row = ctx.core.db.require(cls, self as string);
        if ((row[field!.name] as unknown[]).includes(value)) return '';
        ctx.core.db.update(cls, self as string, (r) => {
          r[field!.name] = [...(r[field!.name] as unknown[]), value];
        });
        return '';
      };
    case 'set_remove':
      return (ctx, [self, value]) => {
        const row = ctx.core.db.require(cls, self as string);
        if (!(row[field!.name] as unknown[]).includes(value)) return '';
        ctx.core.db.update(cls, self as string, (r) => {
          r[field!.name] = (r[field!.name] as unknown[]).filter((v) => v !== value);
        });
        return '';
      };
    case 'get_record':
      return (ctx, [self]) => structuredClone(ctx.core.db.require(cls, self as string));
    case 'get_all':
      return (ctx) => ctx.core.db.rows(cls).map(([ref]) => ref);
    case 'get_all_records':
      return (ctx) => Object.fromEntries(ctx.core.db.rows(cls).map(([ref, row]) => [ref, structuredClone(row)]));
    case 'get_by_uuid':
      return (ctx, [uuid]) => {
        const ref = ctx.core.db.findByUuid(cls, uuid as string);
        if (!ref) throw apiError('UUID_INVALID', cls, uuid as string);
        return ref;
      };
    case 'get_by_name_label':
      return (ctx, [label]) =>
        ctx.core.db
          .rows(cls)
          .filter(([, row]) => row.name_label === label)
          .map(([ref]) => ref);
    default:
      return undefined;
  }
}
