// JSON-RPC 1.0 and 2.0 as XAPI speaks them (ocaml-rpc `Jsonrpc.version_id_and_call_of_string`,
// `api_server.ml`): `jsonrpc: "2.0"` → v2, absent → v1, anything else malformed; `id` required (integer or
// string); v1 params must be an array; v2 params an array, an object (one struct param) or absent.
// Success/failure envelopes differ per version; the v2 error code is always the integer 1.
import { MalformedRequestError } from './xmlrpc.js';
import { type Wire, wireFromJson } from './values.js';

export type JsonRpcVersion = '1.0' | '2.0';

export interface ParsedJsonCall {
  version: JsonRpcVersion;
  id: string | number;
  method: string;
  params: Wire[];
}

export function parseJsonCall(body: string): ParsedJsonCall {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new MalformedRequestError('not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new MalformedRequestError('not a JSON-RPC object');
  const msg = doc as Record<string, unknown>;
  let version: JsonRpcVersion;
  if (!Object.hasOwn(msg, 'jsonrpc')) version = '1.0';
  else if (msg.jsonrpc === '2.0') version = '2.0';
  else throw new MalformedRequestError('unknown jsonrpc version');
  const id = msg.id;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id))))
    throw new MalformedRequestError('id missing');
  if (typeof msg.method !== 'string') throw new MalformedRequestError('method missing');
  let params: Wire[];
  const raw = msg.params;
  if (Array.isArray(raw)) params = raw.map(wireFromJson);
  else if (version === '2.0' && (raw === undefined || raw === null)) params = [];
  else if (version === '2.0' && typeof raw === 'object') params = [wireFromJson(raw)];
  else throw new MalformedRequestError('bad params');
  return { version, id, method: msg.method, params };
}

export function formatJsonSuccess(version: JsonRpcVersion, id: string | number, result: unknown): string {
  return version === '2.0'
    ? JSON.stringify({ jsonrpc: '2.0', result, id })
    : JSON.stringify({ result, error: null, id });
}

export function formatJsonFailure(
  version: JsonRpcVersion,
  id: string | number,
  description: readonly string[],
): string {
  const [code = 'INTERNAL_ERROR', ...data] = description;
  return version === '2.0'
    ? JSON.stringify({ jsonrpc: '2.0', error: { code: 1, message: code, data }, id })
    : JSON.stringify({ result: null, error: description, id });
}
