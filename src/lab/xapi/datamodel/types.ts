// XenAPI types as the lab uses them: parsed from the datamodel's type text ("VM ref set",
// "(string -> string) map", "enum vm_power_state", …). The wire codecs marshal values by these types, so the
// same internal value becomes a string in XML-RPC and a number in JSON-RPC when the type says int.

export type XType =
  | { k: 'string' }
  | { k: 'int' }
  /** Only valid_ref_counts in event.from: `<i4>` in XML-RPC. */
  | { k: 'int32' }
  | { k: 'float' }
  | { k: 'bool' }
  | { k: 'datetime' }
  | { k: 'void' }
  | { k: 'ref'; cls: string }
  | { k: 'enum'; name: string }
  | { k: 'set'; of: XType }
  | { k: 'map'; key: XType; value: XType }
  | { k: 'record'; cls: string }
  /** Fixed-shape structs that are not datamodel records (event batches, events). */
  | { k: 'struct'; fields: ReadonlyArray<readonly [string, XType]>; optional?: ReadonlySet<string> }
  /** An array whose items have different types (event.from's events: each snapshot is its class's record). */
  | { k: 'list'; items: readonly XType[] };

export const T = {
  string: { k: 'string' } as XType,
  int: { k: 'int' } as XType,
  int32: { k: 'int32' } as XType,
  float: { k: 'float' } as XType,
  bool: { k: 'bool' } as XType,
  datetime: { k: 'datetime' } as XType,
  void: { k: 'void' } as XType,
  ref: (cls: string): XType => ({ k: 'ref', cls }),
  set: (of: XType): XType => ({ k: 'set', of }),
  map: (key: XType, value: XType): XType => ({ k: 'map', key, value }),
  record: (cls: string): XType => ({ k: 'record', cls }),
};

const cache = new Map<string, XType>();

/** Parses the datamodel's type text. Postfix words bind left to right: "VDI ref set" = set of (VDI ref). */
export function parseType(text: string): XType {
  const hit = cache.get(text);
  if (hit) return hit;
  // event.from's result is documented as prose; its handler supplies the real shape.
  if (text === 'an event batch') return { k: 'map', key: { k: 'string' }, value: { k: 'string' } };
  const tokens = text.match(/\(|\)|->|[^\s()]+/g) ?? [];
  let pos = 0;
  const parseOne = (): XType => {
    let base: XType;
    const tok = tokens[pos++];
    if (tok === '(') {
      const key = parseOne();
      if (tokens[pos++] !== '->') throw new Error(`bad map type: ${text}`);
      const value = parseOne();
      if (tokens[pos++] !== ')') throw new Error(`bad map type: ${text}`);
      if (tokens[pos++] !== 'map') throw new Error(`bad map type: ${text}`);
      base = { k: 'map', key, value };
    } else if (tok === 'enum') {
      base = { k: 'enum', name: tokens[pos++] ?? '' };
    } else if (
      tok === 'string' ||
      tok === 'int' ||
      tok === 'float' ||
      tok === 'bool' ||
      tok === 'datetime' ||
      tok === 'void'
    ) {
      base = { k: tok };
    } else if (tok !== undefined && tokens[pos] === 'ref') {
      pos++;
      base = { k: 'ref', cls: tok };
    } else if (tok !== undefined && tokens[pos] === 'record') {
      pos++;
      base = { k: 'record', cls: tok };
    } else {
      throw new Error(`unknown type: ${text}`);
    }
    while (tokens[pos] === 'set') {
      pos++;
      base = { k: 'set', of: base };
    }
    return base;
  };
  const result = parseOne();
  if (pos !== tokens.length) throw new Error(`trailing tokens in type: ${text}`);
  cache.set(text, result);
  return result;
}

/** The value a field holds when nothing sets it: what XAPI's database would hold for the type. */
export function zeroValue(type: XType): unknown {
  switch (type.k) {
    case 'string':
    case 'enum':
      return '';
    case 'int':
    case 'int32':
    case 'float':
      return 0;
    case 'bool':
      return false;
    case 'datetime':
      return EPOCH;
    case 'ref':
      return NULL_REF;
    case 'set':
    case 'list':
      return [];
    case 'map':
    case 'record':
    case 'struct':
      return {};
    case 'void':
      return '';
  }
}

export const NULL_REF = 'OpaqueRef:NULL';
export const EPOCH = '19700101T00:00:00Z';

/** XAPI's datetime text: basic date, extended time, UTC (`20250319T04:16:24Z`). */
export function xapiDate(date: Date = new Date()): string {
  const iso = date.toISOString(); // 2025-03-19T04:16:24.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 19)}Z`;
}
