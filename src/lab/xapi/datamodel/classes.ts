// The classes the lab serves and every message they accept, derived from the generated datamodel with XAPI's
// rules (see ./README.md): each message knows its wire name, parameter types (for the count and type checks
// of dispatch), result type (for marshalling), whether it takes a session and whether it has an Async mode.
import { RAW_DATAMODEL } from './generated.js';
import type { RawField } from './rawTypes.js';
import { NULL_REF, parseType, type XType } from './types.js';

export interface FieldSpec {
  name: string;
  type: XType;
  typeText: string;
  qualifier: string;
  hasDefault: boolean;
  defaultValue: unknown;
  removed: boolean;
}

export type MessageKind =
  | 'getter'
  | 'setter'
  | 'map_add'
  | 'map_remove'
  | 'set_add'
  | 'set_remove'
  | 'get_record'
  | 'get_all'
  | 'get_all_records'
  | 'get_by_uuid'
  | 'get_by_name_label'
  | 'create'
  | 'destroy'
  | 'explicit';

export interface ParamSpec {
  name: string;
  type: XType;
}

export interface MessageSpec {
  cls: string;
  name: string;
  /** `Class.name` as clients send it (`.` may also be written `_`). */
  wire: string;
  params: ParamSpec[];
  /** Parameters without a default value; the rest take `defaults[i - required]` when absent. */
  required: number;
  defaults: unknown[];
  result: XType;
  session: boolean;
  async: boolean;
  kind: MessageKind;
  field?: FieldSpec;
  removed: boolean;
}

export interface ClassSpec {
  name: string;
  /** Fields in datamodel order, removed ones excluded (records carry exactly these). */
  fields: FieldSpec[];
  fieldByName: Map<string, FieldSpec>;
  /** Fields a constructor record may carry (RW and RO/constructor). */
  ctorFields: FieldSpec[];
  messages: Map<string, MessageSpec>;
  /** Whether rows of this class live in a database table (event is only messages). */
  isTable: boolean;
}

/** Explicit messages without an Async mode (`~flags:[`Session]` in ocaml/idl/datamodel*.ml). */
const SYNC_EXPLICIT = new Set([
  'task.create',
  'task.destroy',
  'task.set_status',
  'task.set_progress',
  'task.set_result',
  'task.set_error_info',
  'task.set_resident_on',
  'VM.get_boot_record',
  'VM.get_data_sources',
  'VM.record_data_source',
  'VM.query_data_source',
  'VM.forget_data_source_archives',
  'VM.set_ha_always_run',
  'VM.set_ha_restart_priority',
  'VM.get_allowed_VBD_devices',
  'VM.get_allowed_VIF_devices',
  'VM.set_memory_dynamic_max',
  'VM.set_memory_dynamic_min',
  'VM.set_memory_static_max',
  'VM.set_memory_static_min',
  'VM.set_VCPUs_max',
  'VM.set_VCPUs_at_startup',
  'VM.set_HVM_shadow_multiplier',
  'VM.remove_from_NVRAM',
  'VM.add_to_NVRAM',
  'VM.set_NVRAM',
  'VM.set_protection_policy',
  'VM.set_snapshot_schedule',
  'VM.set_domain_type',
  'VM.set_HVM_boot_policy',
  'VDI.set_read_only',
  'VDI.set_sharable',
  'VDI.get_nbd_info',
  'SR.get_supported_types',
  'SR.get_data_sources',
  'SR.record_data_source',
  'SR.query_data_source',
  'SR.forget_data_source_archives',
  'SR.set_physical_size',
  'host.get_data_sources',
  'host.record_data_source',
  'host.query_data_source',
  'host.forget_data_source_archives',
  'host.get_servertime',
  'host.get_server_localtime',
  'host.list_methods',
  'host.get_system_status_capabilities',
  'host.call_extension',
  'host.management_disable',
  'host.shutdown_agent',
  'host.set_hostname_live',
  'host.sync_data',
  'host.backup_rrds',
  'host.apply_edition',
]);

/** Defaulted trailing parameters (`param_default` in ocaml/idl/datamodel*.ml) of the messages the lab serves. */
const PARAM_DEFAULTS: Record<string, unknown[]> = {
  'session.login_with_password': ['1.1', ''],
  'VM.snapshot': [[]],
  'VDI.snapshot': [{}],
  'VDI.clone': [{}],
  'VDI.copy': [NULL_REF, NULL_REF],
};

function fieldSpec(raw: RawField): FieldSpec {
  return {
    name: raw.name,
    type: parseType(raw.type),
    typeText: raw.type,
    qualifier: raw.qualifier,
    hasDefault: Object.hasOwn(raw, 'default'),
    defaultValue: raw.default,
    removed: raw.removed === true,
  };
}

function buildClass(name: string): ClassSpec {
  const raw = RAW_DATAMODEL.classes[name];
  if (!raw) throw new Error(`class ${name} is not in the datamodel`);
  const all = raw.fields.map(fieldSpec);
  const fields = all.filter((f) => !f.removed);
  const messages = new Map<string, MessageSpec>();
  const selfRef = { k: 'ref', cls: name } as XType;
  const add = (m: Omit<MessageSpec, 'cls' | 'wire' | 'required' | 'defaults' | 'removed'> & Partial<MessageSpec>) => {
    const wire = `${name}.${m.name}`;
    const defaults = PARAM_DEFAULTS[wire] ?? [];
    messages.set(m.name, {
      cls: name,
      wire,
      required: m.params.length - defaults.length,
      defaults,
      removed: false,
      ...m,
    });
  };
  const isTable = name !== 'event';
  if (isTable) {
    for (const f of all) {
      add({
        name: `get_${f.name}`,
        params: [{ name: 'self', type: selfRef }],
        result: f.type,
        session: true,
        async: false,
        kind: 'getter',
        field: f,
        removed: f.removed,
      });
      if (f.removed || f.qualifier !== 'RW') continue;
      add({
        name: `set_${f.name}`,
        params: [
          { name: 'self', type: selfRef },
          { name: 'value', type: f.type },
        ],
        result: { k: 'void' },
        session: true,
        async: false,
        kind: 'setter',
        field: f,
      });
      if (f.type.k === 'map') {
        add({
          name: `add_to_${f.name}`,
          params: [
            { name: 'self', type: selfRef },
            { name: 'key', type: f.type.key },
            { name: 'value', type: f.type.value },
          ],
          result: { k: 'void' },
          session: true,
          async: false,
          kind: 'map_add',
          field: f,
        });
        add({
          name: `remove_from_${f.name}`,
          params: [
            { name: 'self', type: selfRef },
            { name: 'key', type: f.type.key },
          ],
          result: { k: 'void' },
          session: true,
          async: false,
          kind: 'map_remove',
          field: f,
        });
      } else if (f.type.k === 'set') {
        add({
          name: `add_${f.name}`,
          params: [
            { name: 'self', type: selfRef },
            { name: 'value', type: f.type.of },
          ],
          result: { k: 'void' },
          session: true,
          async: false,
          kind: 'set_add',
          field: f,
        });
        add({
          name: `remove_${f.name}`,
          params: [
            { name: 'self', type: selfRef },
            { name: 'value', type: f.type.of },
          ],
          result: { k: 'void' },
          session: true,
          async: false,
          kind: 'set_remove',
          field: f,
        });
      }
    }
    add({
      name: 'get_record',
      params: [{ name: 'self', type: selfRef }],
      result: { k: 'record', cls: name },
      session: true,
      async: false,
      kind: 'get_record',
    });
    if (name !== 'session') {
      add({
        name: 'get_all',
        params: [],
        result: { k: 'set', of: selfRef },
        session: true,
        async: false,
        kind: 'get_all',
      });
      add({
        name: 'get_all_records',
        params: [],
        result: { k: 'map', key: selfRef, value: { k: 'record', cls: name } },
        session: true,
        async: false,
        kind: 'get_all_records',
      });
    }
    if (fields.some((f) => f.name === 'uuid')) {
      add({
        name: 'get_by_uuid',
        params: [{ name: 'uuid', type: { k: 'string' } }],
        result: selfRef,
        session: true,
        async: false,
        kind: 'get_by_uuid',
      });
    }
    if (name !== 'pool' && fields.some((f) => f.name === 'name_label')) {
      add({
        name: 'get_by_name_label',
        params: [{ name: 'label', type: { k: 'string' } }],
        result: { k: 'set', of: selfRef },
        session: true,
        async: false,
        kind: 'get_by_name_label',
      });
    }
  }
  const implicitCtor = new Set(['PBD', 'VDI', 'VBD', 'VM', 'VIF', 'network', 'console']);
  if (implicitCtor.has(name)) {
    add({
      name: 'create',
      params: [{ name: 'args', type: { k: 'record', cls: name } }],
      result: selfRef,
      session: true,
      async: true,
      kind: 'create',
    });
    add({
      name: 'destroy',
      params: [{ name: 'self', type: selfRef }],
      result: { k: 'void' },
      session: true,
      async: true,
      kind: 'destroy',
    });
  }
  for (const m of raw.messages) {
    const wire = `${name}.${m.name}`;
    const session = m.noSession !== true;
    add({
      name: m.name,
      params: m.params.map(([type, pname]) => ({ name: pname, type: parseType(type) })),
      result: parseType(m.result),
      session,
      async:
        session && name !== 'session' && name !== 'event' && !SYNC_EXPLICIT.has(wire) && !m.name.startsWith('get_'),
      kind: 'explicit',
      removed: m.removed === true,
    });
  }
  return {
    name,
    fields,
    fieldByName: new Map(fields.map((f) => [f.name, f])),
    ctorFields: fields.filter((f) => f.qualifier === 'RW' || f.qualifier === 'RO/constructor'),
    messages,
    isTable,
  };
}

export const CLASS_NAMES = Object.keys(RAW_DATAMODEL.classes);

export const CLASSES: ReadonlyMap<string, ClassSpec> = new Map(CLASS_NAMES.map((n) => [n, buildClass(n)]));

/** Tables whose rows the lab stores (every served class but `event`). */
export const TABLE_NAMES = CLASS_NAMES.filter((n) => CLASSES.get(n)?.isTable);

export function classSpec(name: string): ClassSpec {
  const spec = CLASSES.get(name);
  if (!spec) throw new Error(`unknown class ${name}`);
  return spec;
}

/** Case-insensitive class lookup (event classes are lowercase on the wire). */
const byLower = new Map(CLASS_NAMES.map((n) => [n.toLowerCase(), n]));
export function classByLowerName(lower: string): string | undefined {
  return byLower.get(lower.toLowerCase());
}

export function enumValues(name: string): readonly string[] | undefined {
  return RAW_DATAMODEL.enums[name];
}

/**
 * Resolves a wire method name: `Async.`/`InternalAsync.` prefix stripped, `_` accepted for the first `.`.
 * Returns undefined for names no served class has.
 */
export function lookupMessage(method: string): { spec: MessageSpec; async: boolean } | undefined {
  let name = method;
  let async = false;
  if (name.startsWith('Async.')) {
    name = name.slice('Async.'.length);
    async = true;
  } else if (name.startsWith('InternalAsync.')) {
    name = name.slice('InternalAsync.'.length);
    async = true;
  }
  const dot = name.indexOf('.');
  if (dot > 0) {
    const spec = CLASSES.get(name.slice(0, dot))?.messages.get(name.slice(dot + 1));
    return spec ? { spec, async } : undefined;
  }
  // `VM_get_record`: the class name may itself contain `_` (VM_guest_metrics), so try each split.
  for (let i = name.indexOf('_'); i > 0; i = name.indexOf('_', i + 1)) {
    const spec = CLASSES.get(name.slice(0, i))?.messages.get(name.slice(i + 1));
    if (spec) return { spec, async };
  }
  return undefined;
}
