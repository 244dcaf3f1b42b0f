// Request envelopes and response readers for the shell operations (MS-WSMV; docs/reference/windows.md §1).
// Requests are built with xml2js's Builder; responses are read by namespace URI and local name only.
import { randomUUID } from 'node:crypto';
import {
  ACTION,
  ANONYMOUS,
  MAX_ENVELOPE_SIZE,
  NS,
  RESOURCE_URI_CMD,
  SIGNAL_TERMINATE,
  STATE_DONE,
} from './protocol.js';
import { buildXml, child, childrenOf, findDeep, parseXml, path, type BuildNode, type XNode } from './xml.js';

export type { BuildNode };

export interface RequestOptions {
  to: string;
  action: string;
  operationTimeoutSec: number;
  shellId?: string;
  options?: Record<string, string>;
  body?: BuildNode;
}

export interface BuiltRequest {
  messageId: string;
  xml: string;
}

const MU = { 's:mustUnderstand': 'true' };

export function buildRequest(o: RequestOptions): BuiltRequest {
  const messageId = `uuid:${randomUUID().toUpperCase()}`;
  const header: BuildNode = {
    'a:To': o.to,
    'w:ResourceURI': { $: MU, _: RESOURCE_URI_CMD },
    'a:ReplyTo': { 'a:Address': { $: MU, _: ANONYMOUS } },
    'a:Action': { $: MU, _: o.action },
    'w:MaxEnvelopeSize': { $: MU, _: String(MAX_ENVELOPE_SIZE) },
    'a:MessageID': messageId,
    'w:Locale': { $: { 'xml:lang': 'en-US', 's:mustUnderstand': 'false' } },
    'p:DataLocale': { $: { 'xml:lang': 'en-US', 's:mustUnderstand': 'false' } },
    'w:OperationTimeout': `PT${o.operationTimeoutSec.toFixed(3)}S`,
  };
  if (o.shellId) header['w:SelectorSet'] = { 'w:Selector': { $: { Name: 'ShellId' }, _: o.shellId } };
  if (o.options && Object.keys(o.options).length) {
    header['w:OptionSet'] = { 'w:Option': Object.entries(o.options).map(([Name, v]) => ({ $: { Name }, _: v })) };
  }
  const xml = buildXml({
    's:Envelope': {
      $: { 'xmlns:s': NS.s, 'xmlns:a': NS.a, 'xmlns:w': NS.w, 'xmlns:p': NS.p, 'xmlns:rsp': NS.rsp },
      's:Header': header,
      's:Body': o.body ?? '',
    },
  });
  return { messageId, xml };
}

export function createBody(o: {
  workingDirectory?: string;
  env?: Record<string, string>;
  idleTimeoutSec?: number;
}): BuildNode {
  const shell: BuildNode = { 'rsp:InputStreams': 'stdin', 'rsp:OutputStreams': 'stdout stderr' };
  if (o.workingDirectory) shell['rsp:WorkingDirectory'] = o.workingDirectory;
  if (o.env && Object.keys(o.env).length) {
    shell['rsp:Environment'] = { 'rsp:Variable': Object.entries(o.env).map(([Name, v]) => ({ $: { Name }, _: v })) };
  }
  if (o.idleTimeoutSec) shell['rsp:IdleTimeOut'] = `PT${o.idleTimeoutSec}S`;
  return { 'rsp:Shell': shell };
}

export function commandBody(command: string, args: string[]): BuildNode {
  const line: BuildNode = { 'rsp:Command': command };
  if (args.length) line['rsp:Arguments'] = args;
  return { 'rsp:CommandLine': line };
}

export function receiveBody(commandId: string): BuildNode {
  return { 'rsp:Receive': { 'rsp:DesiredStream': { $: { CommandId: commandId }, _: 'stdout stderr' } } };
}

export function sendBody(commandId: string, data: Buffer, end: boolean): BuildNode {
  const attrs: Record<string, string> = { Name: 'stdin', CommandId: commandId };
  if (end) attrs.End = 'true';
  return { 'rsp:Send': { 'rsp:Stream': { $: attrs, _: data.toString('base64') } } };
}

export function signalBody(commandId: string, code = SIGNAL_TERMINATE): BuildNode {
  return { 'rsp:Signal': { $: { CommandId: commandId }, 'rsp:Code': code } };
}

export { ACTION };

// ---- responses ----

export interface SoapFault {
  code?: string;
  subcode?: string;
  reason?: string;
  wsmanCode?: number;
  message?: string;
}

export interface ParsedEnvelope {
  root: XNode;
  header: XNode | undefined;
  body: XNode | undefined;
  relatesTo: string | undefined;
  fault: SoapFault | undefined;
}

function deepText(n: XNode | undefined): string {
  if (!n) return '';
  return n.text + n.children.map(deepText).join('');
}

export async function parseEnvelope(xml: string): Promise<ParsedEnvelope> {
  const root = await parseXml(xml);
  if (root.uri !== NS.s || root.local !== 'Envelope') throw new Error(`not a SOAP 1.2 envelope (root ${root.local})`);
  const header = child(root, NS.s, 'Header');
  const body = child(root, NS.s, 'Body');
  const f = child(body, NS.s, 'Fault');
  let fault: SoapFault | undefined;
  if (f) {
    const wsman = findDeep(child(f, NS.s, 'Detail'), NS.f, 'WSManFault');
    const codeAttr = wsman?.attrs.Code;
    fault = {
      code: path(f, [NS.s, 'Code'], [NS.s, 'Value'])?.text,
      subcode: path(f, [NS.s, 'Code'], [NS.s, 'Subcode'], [NS.s, 'Value'])?.text,
      reason: path(f, [NS.s, 'Reason'], [NS.s, 'Text'])?.text,
      wsmanCode: codeAttr !== undefined && /^\d+$/.test(codeAttr) ? Number(codeAttr) : undefined,
      message: wsman ? deepText(child(wsman, NS.f, 'Message')) || undefined : undefined,
    };
  }
  return { root, header, body, relatesTo: child(header, NS.a, 'RelatesTo')?.text.trim(), fault };
}

export function readShellId(env: ParsedEnvelope): string | undefined {
  const selector = childrenOf(
    path(env.body, [NS.x, 'ResourceCreated'], [NS.a, 'ReferenceParameters'], [NS.w, 'SelectorSet']),
    NS.w,
    'Selector',
  ).find((s) => s.attrs.Name === 'ShellId');
  return (selector?.text ?? path(env.body, [NS.rsp, 'Shell'], [NS.rsp, 'ShellId'])?.text)?.trim() || undefined;
}

export function readCommandId(env: ParsedEnvelope): string | undefined {
  return path(env.body, [NS.rsp, 'CommandResponse'], [NS.rsp, 'CommandId'])?.text.trim() || undefined;
}

export interface ReceiveChunk {
  stdout: Buffer[];
  stderr: Buffer[];
  done: boolean;
  exitCode: number | undefined;
}

export function readReceive(env: ParsedEnvelope, commandId: string): ReceiveChunk {
  const resp = child(env.body, NS.rsp, 'ReceiveResponse');
  const out: ReceiveChunk = { stdout: [], stderr: [], done: false, exitCode: undefined };
  for (const s of childrenOf(resp, NS.rsp, 'Stream')) {
    if (s.attrs.CommandId && s.attrs.CommandId.toUpperCase() !== commandId.toUpperCase()) continue;
    const text = s.text.trim();
    if (!text) continue;
    const data = Buffer.from(text, 'base64');
    if (s.attrs.Name === 'stdout') out.stdout.push(data);
    else if (s.attrs.Name === 'stderr') out.stderr.push(data);
  }
  const state = child(resp, NS.rsp, 'CommandState');
  if (state?.attrs.State === STATE_DONE) {
    out.done = true;
    const code = child(state, NS.rsp, 'ExitCode')?.text.trim();
    // pywinrm's rule: a missing or empty ExitCode is -1, never "success".
    out.exitCode = code && /^-?\d+$/.test(code) ? Number(code) : -1;
  }
  return out;
}
