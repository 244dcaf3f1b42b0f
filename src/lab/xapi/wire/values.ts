// Values as they arrive on the wire (before XAPI's typed unmarshalling) and the conversion to the lab's internal
// representation by the parameter's datamodel type. The rules and failure texts follow ocaml-rpc (`rpc.ml`),
// which XAPI's generated dispatcher uses: int accepts an integer or a numeric string, float accepts double,
// int or numeric string, bool only booleans, string only strings; a mismatch is `Failure("Expected …")`.
import { enumValues } from '../datamodel/classes.js';
import type { XType } from '../datamodel/types.js';

export type Wire =
  | { t: 'str'; v: string }
  /** Decimal text, so int64 values survive. */
  | { t: 'int'; v: string }
  | { t: 'double'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'date'; v: string }
  | { t: 'b64'; v: string }
  | { t: 'arr'; v: Wire[] }
  | { t: 'dict'; v: Array<[string, Wire]> }
  | { t: 'nil' };

/** ocaml-rpc's `Rpc.to_string`, used inside its conversion failure messages. */
export function wireToString(w: Wire): string {
  switch (w.t) {
    case 'int':
      return `I(${w.v})`;
    case 'bool':
      return `B(${w.v})`;
    case 'double':
      return `F(${formatG(w.v, 6)})`;
    case 'str':
      return `S(${w.v})`;
    case 'date':
      return `D(${w.v})`;
    case 'arr':
      return `[${w.v.map(wireToString).join(';')}]`;
    case 'dict':
      return `{${w.v.map(([k, v]) => `${k}:${wireToString(v)}`).join(';')}}`;
    case 'b64':
      return `B64(${w.v})`;
    case 'nil':
      return 'N';
  }
}

/** C's `%.<precision>g`. */
export function formatG(value: number, precision: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  const stripZeros = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exp < -4 || exp >= precision) {
    const [mant = '', e = '0'] = value.toExponential(precision - 1).split('e');
    const n = Number(e);
    return `${stripZeros(mant)}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return stripZeros(value.toFixed(Math.max(0, precision - 1 - exp)));
}

/** A typed-unmarshalling failure; dispatch reports it as INTERNAL_ERROR [message]. */
export class ConversionError extends Error {}

const failure = (text: string) => new ConversionError(`Failure(${JSON.stringify(text)})`);

function toInt(w: Wire): number {
  if (w.t === 'int') return Number(w.v);
  if (w.t === 'str') {
    if (!/^[+-]?\d+$/.test(w.v.trim())) throw failure('Int64.of_string');
    return Number(w.v);
  }
  throw failure(`Expected int64, got '${wireToString(w)}'`);
}

/** Converts a wire value to the lab's internal value for `type` (refs, enums and uuids are strings). */
export function unmarshal(w: Wire, type: XType): unknown {
  switch (type.k) {
    case 'string':
    case 'ref':
      if (w.t === 'str') return w.v;
      throw failure(`Expected string, got '${wireToString(w)}'`);
    case 'int':
    case 'int32':
      return toInt(w);
    case 'float':
      if (w.t === 'double') return w.v;
      if (w.t === 'int') return Number(w.v);
      if (w.t === 'str' && w.v.trim() !== '' && !Number.isNaN(Number(w.v))) return Number(w.v);
      throw failure(`Expected float, got '${wireToString(w)}'`);
    case 'bool':
      if (w.t === 'bool') return w.v;
      throw failure(`Expected bool, got '${wireToString(w)}'`);
    case 'datetime':
      if (w.t === 'date' || w.t === 'str') return w.v;
      throw failure('Date.t_of_rpc');
    case 'enum': {
      if (w.t !== 'str') throw failure(`Expected string, got '${wireToString(w)}'`);
      const values = enumValues(type.name) ?? [];
      const hit = values.find((v) => v.toLowerCase() === w.v.toLowerCase());
      if (hit === undefined) throw failure('Unknown tag/contents');
      return hit;
    }
    case 'list':
    case 'set':
      if (type.k === 'list') throw failure('Unmarshalling error');
      if (w.t !== 'arr') throw failure(`Expected Rpc.Enum, but found '${wireToString(w)}'`);
      return w.v.map((item) => unmarshal(item, type.of));
    case 'map': {
      if (w.t !== 'dict') throw failure('Unmarshalling error');
      const out: Record<string, unknown> = {};
      for (const [key, value] of w.v) {
        const k =
          type.key.k === 'int'
            ? String(toInt({ t: 'str', v: key }))
            : (unmarshal({ t: 'str', v: key }, type.key) as string);
        out[k] = unmarshal(value, type.value);
      }
      return out;
    }
    case 'record':
    case 'struct':
      if (w.t !== 'dict') throw failure('bad __structure');
      return w;
    case 'void':
      return '';
  }
}

/** A JSON value (already parsed) as a wire value: integral numbers are ints, others doubles. */
export function wireFromJson(value: unknown): Wire {
  if (typeof value === 'string') return { t: 'str', v: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { t: 'int', v: BigInt(value).toString() } : { t: 'double', v: value };
  }
  if (typeof value === 'boolean') return { t: 'bool', v: value };
  if (value === null || value === undefined) return { t: 'nil' };
  if (Array.isArray(value)) return { t: 'arr', v: value.map(wireFromJson) };
  return { t: 'dict', v: Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, wireFromJson(v)]) };
}
