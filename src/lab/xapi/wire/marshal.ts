// Internal values → what XAPI emits, by datamodel type (ocaml-rpc `Xmlrpc.add_value` / `Jsonrpc`, XAPI's
// generated marshallers): int64 is an untyped `<value>` (a string to clients) in XML-RPC and a number in JSON-RPC,
// int32 is `<i4>`, floats `%.16g` doubles, datetimes `YYYYMMDDTHH:MM:SSZ`, strings untyped with `<>&"` escaped and
// control characters other than TAB/LF/CR dropped. One line, no whitespace between tags.
import { classSpec } from '../datamodel/classes.js';
import { EPOCH, type XType } from '../datamodel/types.js';
import { formatG } from './values.js';

// eslint-disable-next-line no-control-regex
const DROPPED = /[\x00-\x08\x0B\x0C\x0E-\x1F]/g;

export function escapeXml(text: string): string {
  return text
    .replace(DROPPED, '')
    .replace(/[<>&"]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&quot;'));
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

function recordFields(type: XType): ReadonlyArray<readonly [string, XType]> {
  if (type.k === 'record') return classSpec(type.cls).fields.map((f) => [f.name, f.type] as const);
  if (type.k === 'struct') return type.fields;
  return [];
}

function mapKey(key: string, type: XType): string {
  return type.k === 'int' ? String(Math.trunc(Number(key))) : key;
}

/** The `<value>…</value>` text of `value`. */
export function toXmlValue(value: unknown, type: XType): string {
  switch (type.k) {
    case 'string':
    case 'ref':
    case 'enum':
      return `<value>${escapeXml(str(value))}</value>`;
    case 'void':
      return '<value></value>';
    case 'int':
      return `<value>${Math.trunc(num(value))}</value>`;
    case 'int32':
      return `<value><i4>${Math.trunc(num(value))}</i4></value>`;
    case 'float':
      return `<value><double>${formatG(num(value), 16)}</double></value>`;
    case 'bool':
      return `<value><boolean>${value === true ? 1 : 0}</boolean></value>`;
    case 'datetime':
      return `<value><dateTime.iso8601>${escapeXml(str(value) || EPOCH)}</dateTime.iso8601></value>`;
    case 'set': {
      const items = Array.isArray(value) ? value : [];
      return `<value><array><data>${items.map((item) => toXmlValue(item, type.of)).join('')}</data></array></value>`;
    }
    case 'list': {
      const items = Array.isArray(value) ? value : [];
      return `<value><array><data>${items.map((item, i) => toXmlValue(item, type.items[i] ?? { k: 'string' })).join('')}</data></array></value>`;
    }
    case 'map': {
      const entries = Object.entries((value ?? {}) as Record<string, unknown>);
      const members = entries.map(
        ([k, v]) => `<member><name>${escapeXml(mapKey(k, type.key))}</name>${toXmlValue(v, type.value)}</member>`,
      );
      return `<value><struct>${members.join('')}</struct></value>`;
    }
    case 'record':
    case 'struct': {
      const rec = (value ?? {}) as Record<string, unknown>;
      const optional = type.k === 'struct' ? type.optional : undefined;
      const members = recordFields(type)
        .filter(([name]) => !(optional?.has(name) && rec[name] === undefined))
        .map(([name, t]) => `<member><name>${name}</name>${toXmlValue(rec[name], t)}</member>`);
      return `<value><struct>${members.join('')}</struct></value>`;
    }
  }
}

/** The JSON-RPC value of `value`. */
export function toJsonValue(value: unknown, type: XType): unknown {
  switch (type.k) {
    case 'string':
    case 'ref':
    case 'enum':
      return str(value);
    case 'void':
      return '';
    case 'int':
    case 'int32':
      return Math.trunc(num(value));
    case 'float':
      return num(value);
    case 'bool':
      return value === true;
    case 'datetime':
      return str(value) || EPOCH;
    case 'set':
      return (Array.isArray(value) ? value : []).map((item) => toJsonValue(item, type.of));
    case 'list':
      return (Array.isArray(value) ? value : []).map((item, i) => toJsonValue(item, type.items[i] ?? { k: 'string' }));
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries((value ?? {}) as Record<string, unknown>))
        out[mapKey(k, type.key)] = toJsonValue(v, type.value);
      return out;
    }
    case 'record':
    case 'struct': {
      const rec = (value ?? {}) as Record<string, unknown>;
      const optional = type.k === 'struct' ? type.optional : undefined;
      const out: Record<string, unknown> = {};
      for (const [name, t] of recordFields(type)) {
        if (optional?.has(name) && rec[name] === undefined) continue;
        out[name] = toJsonValue(rec[name], t);
      }
      return out;
    }
  }
}
