// XML-RPC as XAPI speaks it. Requests are parsed leniently (any whitespace between elements, untyped values,
// `<string>`, `<int>`/`<i4>`/`<i8>`, `<boolean>`, `<double>`, `<dateTime.iso8601>`, `<base64>`, `<nil/>`,
// `<struct>`, `<array>`, empty `<params/>`); responses are written the way ocaml-rpc writes them: one line, the
// Status/Value struct (Failure + ErrorDescription for API errors, never `<fault>`).
import { parseStringPromise } from 'xml2js';
import type { Wire } from './values.js';

export class MalformedRequestError extends Error {}

type XmlNode = string | { [tag: string]: XmlNode[] | undefined };

function first(node: XmlNode | undefined, tag: string): XmlNode | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  return node[tag]?.[0];
}

function textOf(node: XmlNode | undefined): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node;
  const text = node._;
  return typeof text === 'string' ? text : '';
}

function parseValue(node: XmlNode | undefined): Wire {
  if (node === undefined || typeof node === 'string') return { t: 'str', v: node ?? '' };
  const tags = Object.keys(node).filter((k) => k !== '_' && k !== '$');
  const tag = tags[0];
  if (tag === undefined) return { t: 'str', v: textOf(node) };
  const inner = node[tag]?.[0];
  switch (tag) {
    case 'string':
      return { t: 'str', v: textOf(inner) };
    case 'int':
    case 'i4':
    case 'i8': {
      const text = textOf(inner).trim();
      if (!/^[+-]?\d+$/.test(text)) throw new MalformedRequestError(`bad integer ${text}`);
      return { t: 'int', v: BigInt(text).toString() };
    }
    case 'boolean':
      return { t: 'bool', v: textOf(inner).trim() === '1' || textOf(inner).trim().toLowerCase() === 'true' };
    case 'double':
      return { t: 'double', v: Number(textOf(inner).trim()) };
    case 'dateTime.iso8601':
      return { t: 'date', v: textOf(inner).trim() };
    case 'base64':
      return { t: 'b64', v: textOf(inner).trim() };
    case 'nil':
      return { t: 'nil' };
    case 'array': {
      const data = first(inner, 'data');
      const values = data && typeof data !== 'string' ? (data.value ?? []) : [];
      return { t: 'arr', v: values.map(parseValue) };
    }
    case 'struct': {
      const members = inner && typeof inner !== 'string' ? (inner.member ?? []) : [];
      return {
        t: 'dict',
        v: members.map((m): [string, Wire] => [textOf(first(m, 'name')), parseValue(first(m, 'value'))]),
      };
    }
    default:
      throw new MalformedRequestError(`unknown XML-RPC type <${tag}>`);
  }
}

export interface ParsedCall {
  method: string;
  params: Wire[];
}

export async function parseMethodCall(body: string): Promise<ParsedCall> {
  let doc: Record<string, XmlNode> | null;
  try {
    doc = (await parseStringPromise(body, { explicitArray: true, trim: false, normalize: false })) as Record<
      string,
      XmlNode
    > | null;
  } catch (err) {
    throw new MalformedRequestError(`not XML: ${(err as Error).message}`);
  }
  const call = doc?.methodCall;
  if (call === undefined || typeof call === 'string') throw new MalformedRequestError('no methodCall element');
  const method = textOf(first(call, 'methodName')).trim();
  if (!method) throw new MalformedRequestError('no methodName');
  const params = first(call, 'params');
  const list = params && typeof params !== 'string' ? (params.param ?? []) : [];
  return { method, params: list.map((p) => parseValue(first(p, 'value'))) };
}

const HEAD = '<?xml version="1.0"?><methodResponse><params><param>';
const TAIL = '</param></params></methodResponse>';

/** `valueXml` is a complete `<value>…</value>`. */
export function formatSuccess(valueXml: string): string {
  return `${HEAD}<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${valueXml}</member></struct></value>${TAIL}`;
}

export function formatFailure(description: readonly string[], escape: (s: string) => string): string {
  const items = description.map((s) => `<value>${escape(s)}</value>`).join('');
  return `${HEAD}<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>${items}</data></array></value></member></struct></value>${TAIL}`;
}

/** system.listMethods: the bare value, no Status wrapper. */
export function formatBare(valueXml: string): string {
  return `${HEAD}${valueXml}${TAIL}`;
}
