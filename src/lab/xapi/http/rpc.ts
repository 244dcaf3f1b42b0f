// The RPC endpoints: XML-RPC on every POST path but /jsonrpc, JSON-RPC 1.0/2.0 on /jsonrpc (api_server.ml).
// Always HTTP 200 for API results (errors travel in the body) with Content-Type exactly text/xml or
// application/json and XAPI's CORS headers; bodies that are not valid requests end as an HTTP 500 page.
// Scheduled transport faults (resets, 500s, slow answers) apply here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LabCore } from '../api/context.js';
import { hold } from '../faults.js';
import { dispatch, type DispatchOutcome } from '../api/dispatch.js';
import { formatJsonFailure, formatJsonSuccess, parseJsonCall } from '../wire/jsonrpc.js';
import { escapeXml, toJsonValue, toXmlValue } from '../wire/marshal.js';
import { formatBare, formatFailure, formatSuccess, MalformedRequestError, parseMethodCall } from '../wire/xmlrpc.js';

const MAX_BODY = 64 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new MalformedRequestError('request too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, contentType: string, body: string): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(200, {
    'Content-Type': contentType,
    'Content-Length': buf.length,
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'X-Requested-With',
  });
  res.end(buf);
}

export function sendError(res: ServerResponse, status: number, text: string): void {
  const body = `<html><body><h1>HTTP ${status} ${text}</h1></body></html>`;
  res.writeHead(status, {
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}

function xmlBody(outcome: DispatchOutcome): string {
  switch (outcome.kind) {
    case 'success':
      return formatSuccess(toXmlValue(outcome.value, outcome.type));
    case 'bare':
      return formatBare(toXmlValue(outcome.value, outcome.type));
    case 'failure':
      return formatFailure(outcome.description, escapeXml);
  }
}

/**
 * Applies the transport faults scheduled for this call around `run`. Returns false when the connection was
 * dropped or answered with a 500 instead.
 */
async function withTransportFaults(
  core: LabCore,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  run: () => Promise<string>,
): Promise<string | undefined> {
  core.faults.count(method);
  const fault = core.faults.take(['connectionReset', 'http500', 'slow'], method);
  if (fault?.kind === 'slow') await hold(fault.delayMs ?? 5000, core.stopping);
  if (fault?.kind === 'http500') {
    sendError(res, 500, 'Internal Server Error');
    return undefined;
  }
  if (fault?.kind === 'connectionReset' && (fault.phase ?? 'before') === 'before') {
    req.socket.destroy();
    return undefined;
  }
  const body = await run();
  if (fault?.kind === 'connectionReset') {
    req.socket.destroy();
    return undefined;
  }
  return body;
}

export async function handleXmlRpc(
  core: LabCore,
  via: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let call: Awaited<ReturnType<typeof parseMethodCall>>;
  try {
    call = await parseMethodCall(await readBody(req));
  } catch (err) {
    if (err instanceof MalformedRequestError) return sendError(res, 500, 'Internal Server Error');
    throw err;
  }
  const body = await withTransportFaults(core, req, res, call.method, async () =>
    xmlBody(await dispatch(core, call.method, call.params, { via })),
  );
  if (body !== undefined) send(res, 'text/xml', body);
}

export async function handleJsonRpc(
  core: LabCore,
  via: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let call: ReturnType<typeof parseJsonCall>;
  try {
    call = parseJsonCall(await readBody(req));
  } catch (err) {
    if (err instanceof MalformedRequestError) return sendError(res, 500, 'Internal Server Error');
    throw err;
  }
  const body = await withTransportFaults(core, req, res, call.method, async () => {
    const outcome = await dispatch(core, call.method, call.params, { via });
    return outcome.kind === 'failure'
      ? formatJsonFailure(call.version, call.id, outcome.description)
      : formatJsonSuccess(call.version, call.id, toJsonValue(outcome.value, outcome.type));
  });
  if (body !== undefined) send(res, 'application/json', body);
}

export function handlePreflight(res: ServerResponse): void {
  res.writeHead(200, {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'X-Requested-With',
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    'Content-Length': 0,
  });
  res.end();
}
