// The WS-Management shell service of a simulated Windows: Windows' exact prefixes (s, a, x, w, rsp, p, f),
// RelatesTo on every answer, HTTP 401 with Windows' headers, SOAP faults with HTTP 500 and real WSManFault codes,
// Receive long-polls that end in the OperationTimeout fault (2150858793), output split across Receives, shells
// that vanish with the service (2150858843), and the per-user shell quota (2150859173).
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  ACTION,
  FAULT,
  NS,
  RESOURCE_URI_CMD,
  SIGNAL_CTRL_C,
  SIGNAL_TERMINATE,
  STATE_DONE,
  STATE_RUNNING,
} from '../../winrm/protocol.js';
import { buildXml, child, childrenOf, parseXml, path, type BuildNode, type XNode } from '../../winrm/xml.js';
import type { GuestProcess } from './process.js';

export interface WsmanShell {
  id: string;
  user: string;
  codepage: number;
  env: Record<string, string>;
  commands: Map<string, GuestProcess>;
}

export type WsmanOperation = 'Create' | 'Command' | 'Receive' | 'Send' | 'Signal' | 'Delete';

export interface WsmanServerOptions {
  address: string;
  port: number;
  /** HTTPS listener certificate; plain HTTP when absent. */
  tls?: { pfx: Buffer; passphrase: string };
  machineName: string;
  authenticate(user: string, password: string): 'ok' | 'denied' | 'filtered';
  /** NTLMv2 (Negotiate with an NTLMSSP token); absent = Negotiate always fails, as with no such account. */
  authenticateNtlm?(
    user: string,
    domain: string,
    serverChallenge: Buffer,
    ntResponse: Buffer,
  ): 'ok' | 'denied' | 'filtered';
  basicEnabled(): boolean;
  /** HTTP without TLS needs AllowUnencrypted=true for Basic. */
  allowUnencrypted(): boolean;
  startProcess(commandLine: string, shell: WsmanShell): GuestProcess;
  /** Injected faults: answer nothing ('timeout') or 401 for this request. */
  fault?(op: WsmanOperation | 'Unknown'): 'timeout' | '401' | undefined;
  log: Logger;
  maxShellsPerUser?: number;
  /** Largest raw output per Receive (Windows splits around MaxEnvelopeSize). */
  maxReceiveBytes?: number;
}

const FAULT_TEXT: Record<number, string> = {
  [FAULT.operationTimeout]:
    'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ',
};

// Code page 437, bytes 0x80–0xFF (for shells created with WINRS_CODEPAGE=437, the Windows default).
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function encodeOutput(data: Buffer, codepage: number): Buffer {
  if (codepage === 65001) return data;
  const text = data.toString('utf8');
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else {
      const i = CP437_HIGH.indexOf(ch);
      out.push(i >= 0 ? 0x80 + i : 0x3f);
    }
  }
  return Buffer.from(out);
}

/** An NTLM CHALLENGE message (type 2) with NTLMv2 extended session security and the target info Windows sends. */
function ntlmChallenge(challenge: Buffer, machine: string): Buffer {
  const name = Buffer.from(machine.toUpperCase(), 'utf16le');
  const av = (id: number, value: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(id, 0);
    head.writeUInt16LE(value.length, 2);
    return Buffer.concat([head, value]);
  };
  const filetime = Buffer.alloc(8);
  filetime.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  const info = Buffer.concat([
    av(2, name),
    av(1, name),
    av(4, name),
    av(3, name),
    av(7, filetime),
    av(0, Buffer.alloc(0)),
  ]);
  // UNICODE | REQUEST_TARGET | NTLM | ALWAYS_SIGN | TARGET_TYPE_SERVER | EXTENDED_SESSIONSECURITY | TARGET_INFO | VERSION | 128 | 56
  const flags = (0x1 | 0x4 | 0x200 | 0x8000 | 0x20000 | 0x80000 | 0x800000 | 0x2000000 | 0x20000000 | 0x80000000) >>> 0;
  const head = Buffer.alloc(56);
  head.write('NTLMSSP\0', 0, 'latin1');
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(name.length, 12);
  head.writeUInt16LE(name.length, 14);
  head.writeUInt32LE(56, 16);
  head.writeUInt32LE(flags, 20);
  challenge.copy(head, 24);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(56 + name.length, 44);
  Buffer.from([10, 0, 0x4f, 0x45, 0, 0, 0, 15]).copy(head, 48); // Windows 10.0 build 17743, NTLM revision 15
  return Buffer.concat([head, name, info]);
}

class SoapFault {
  constructor(
    readonly code: 's:Sender' | 's:Receiver',
    readonly subcode: string,
    readonly wsmanCode: number,
    readonly message: string,
  ) {}
}

function parseDuration(s: string | undefined): number {
  const m = /^PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(s?.trim() ?? '');
  if (!m) return 60_000;
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

export class WsmanServer {
  private server: http.Server | https.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly shells = new Map<string, WsmanShell>();
  private readonly ntlm = new WeakMap<Socket, { challenge?: Buffer; user?: string }>();
  private readonly o: WsmanServerOptions;
  /** Requests this server received (operation names), for tests that check the exchange. */
  readonly requests: WsmanOperation[] = [];

  constructor(options: WsmanServerOptions) {
    this.o = options;
  }

  get https(): boolean {
    return this.o.tls !== undefined;
  }

  get port(): number {
    return this.o.port;
  }

  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.handle(req, res);
    this.server = this.o.tls
      ? https.createServer({ pfx: this.o.tls.pfx, passphrase: this.o.tls.passphrase }, handler)
      : http.createServer(handler);
    this.server.keepAliveTimeout = 120_000;
    const track = (s: Socket): void => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    };
    this.server.on(this.o.tls ? 'secureConnection' : 'connection', track);
    if (this.o.tls) this.server.on('connection', track);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.port, this.o.address, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    if (addr && typeof addr === 'object') this.o.port = addr.port;
  }

  /** Breaks every open TCP connection (NIC swap); shells survive. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** The service stops (reboot, halt): connections reset, shells and their processes are gone. */
  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    // Connections die first (a reset VM answers nothing), then the shells and their processes.
    const closed = srv ? new Promise<void>((resolve) => srv.close(() => resolve())) : Promise.resolve();
    this.dropConnections();
    for (const shell of this.shells.values()) for (const p of shell.commands.values()) p.terminate();
    this.shells.clear();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    res.setHeader('Server', 'Microsoft-HTTPAPI/2.0');
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0]!.toLowerCase() !== '/wsman') {
      res.writeHead(req.method === 'POST' ? 404 : 405, { 'Content-Length': 0 });
      res.end();
      return;
    }
    let env: XNode | undefined;
    try {
      env = await parseXml(body);
    } catch {
      env = undefined;
    }
    const header = child(env, NS.s, 'Header');
    const action = child(header, NS.a, 'Action')?.text.trim() ?? '';
    const op = (Object.entries({
      Create: ACTION.create,
      Command: ACTION.command,
      Receive: ACTION.receive,
      Send: ACTION.send,
      Signal: ACTION.signal,
      Delete: ACTION.delete,
    }).find(([, a]) => a === action)?.[0] ?? 'Unknown') as WsmanOperation | 'Unknown';
    const injected = this.o.fault?.(op);
    if (injected === 'timeout') {
      this.o.log.debug({ op }, 'WinRM request blackholed (injected fault)');
      return; // never answered: the client's own timeout must fire
    }
    const auth = injected === '401' ? undefined : this.authenticate(req);
    if (!auth || 'challenge' in auth) {
      res.writeHead(401, {
        'WWW-Authenticate': auth
          ? [`Negotiate ${auth.challenge}`]
          : this.o.basicEnabled()
            ? ['Negotiate', 'Basic realm="WSMAN"']
            : ['Negotiate'],
        'Content-Length': 0,
      });
      res.end();
      return;
    }
    const user = auth.user;
    const messageId = child(header, NS.a, 'MessageID')?.text.trim() ?? '';
    if (op !== 'Unknown') this.requests.push(op);
    try {
      if (!env || env.uri !== NS.s || env.local !== 'Envelope') {
        throw new SoapFault(
          's:Sender',
          'w:SchemaValidationError',
          FAULT.schemaValidation,
          'The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry.',
        );
      }
      const reply = await this.dispatch(op, env, header, user, req);
      this.send(res, 200, reply.action, messageId, reply.body);
    } catch (err) {
      if (!(err instanceof SoapFault)) this.o.log.error({ err: (err as Error).message }, 'WinRM server error');
      const f =
        err instanceof SoapFault
          ? err
          : new SoapFault('s:Receiver', 'w:InternalError', 2147942402, (err as Error).message);
      this.send(res, 500, ACTION.fault, messageId, {
        's:Fault': {
          's:Code': { 's:Value': f.code, 's:Subcode': { 's:Value': f.subcode } },
          's:Reason': { 's:Text': { $: { 'xml:lang': 'en-US' }, _: f.message } },
          's:Detail': {
            'f:WSManFault': {
              $: { 'xmlns:f': NS.f, Code: String(f.wsmanCode), Machine: this.o.machineName },
              'f:Message': f.message,
            },
          },
        },
      });
    }
  }

  private authenticate(req: http.IncomingMessage): { user: string } | { challenge: string } | undefined {
    const h = req.headers.authorization ?? '';
    const conn = this.ntlm.get(req.socket) ?? {};
    this.ntlm.set(req.socket, conn);
    if (/^Negotiate /i.test(h)) return this.negotiate(Buffer.from(h.slice(10).trim(), 'base64'), conn);
    // HTTP.sys keeps an NTLM logon for the rest of the connection.
    if (!h && conn.user) return { user: conn.user };
    if (!/^Basic /i.test(h) || !this.o.basicEnabled()) return undefined;
    if (!this.o.tls && !this.o.allowUnencrypted()) return undefined;
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    return this.o.authenticate(user, decoded.slice(colon + 1)) === 'ok'
      ? { user: user.replace(/^.*\\/, '') }
      : undefined;
  }

  /** NTLM inside Negotiate (MS-NLMP): NEGOTIATE → CHALLENGE, AUTHENTICATE → verified NTLMv2 response. */
  private negotiate(
    token: Buffer,
    conn: { challenge?: Buffer; user?: string },
  ): { user: string } | { challenge: string } | undefined {
    if (token.length < 12 || token.toString('latin1', 0, 8) !== 'NTLMSSP\0' || !this.o.authenticateNtlm)
      return undefined;
    // Without message sealing, NTLM over plain HTTP needs AllowUnencrypted, like Basic.
    if (!this.o.tls && !this.o.allowUnencrypted()) return undefined;
    const type = token.readUInt32LE(8);
    if (type === 1) {
      conn.challenge = randomBytes(8);
      return { challenge: ntlmChallenge(conn.challenge, this.o.machineName).toString('base64') };
    }
    if (type !== 3 || !conn.challenge || token.length < 64) return undefined;
    const field = (at: number): Buffer => {
      const len = token.readUInt16LE(at);
      const off = token.readUInt32LE(at + 4);
      return off + len <= token.length ? token.subarray(off, off + len) : Buffer.alloc(0);
    };
    const unicode = (token.readUInt32LE(60) & 1) === 1;
    const text = (b: Buffer): string => b.toString(unicode ? 'utf16le' : 'latin1');
    const challenge = conn.challenge;
    conn.challenge = undefined;
    const user = text(field(36));
    const result = this.o.authenticateNtlm(user, text(field(28)), challenge, field(20));
    if (result !== 'ok') return undefined;
    conn.user = user;
    return { user };
  }

  private send(
    res: http.ServerResponse,
    status: number,
    action: string,
    relatesTo: string,
    body: BuildNode | string,
  ): void {
    if (res.destroyed || !this.server) return;
    const xml = buildXml({
      's:Envelope': {
        $: {
          'xml:lang': 'en-US',
          'xmlns:s': NS.s,
          'xmlns:a': NS.a,
          'xmlns:x': NS.x,
          'xmlns:w': NS.w,
          'xmlns:rsp': NS.rsp,
          'xmlns:p': NS.p,
        },
        's:Header': {
          'a:Action': action,
          'a:MessageID': `uuid:${randomUUID().toUpperCase()}`,
          'a:To': 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous',
          'a:RelatesTo': relatesTo,
        },
        's:Body': body,
      },
    });
    const buf = Buffer.from(xml, 'utf8');
    res.writeHead(status, { 'Content-Type': 'application/soap+xml;charset=UTF-8', 'Content-Length': buf.length });
    res.end(buf);
  }

  private shellNotFound(id: string): SoapFault {
    return new SoapFault(
      's:Sender',
      'w:InvalidSelectors',
      FAULT.shellNotFound,
      `The request for the Windows Remote Shell with ShellId ${id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. `,
    );
  }

  private shellFor(header: XNode | undefined): WsmanShell {
    const sel = childrenOf(child(header, NS.w, 'SelectorSet'), NS.w, 'Selector').find(
      (s) => s.attrs.Name === 'ShellId',
    );
    const id = sel?.text.trim() ?? '';
    const shell = this.shells.get(id.toUpperCase());
    if (!shell) throw this.shellNotFound(id);
    return shell;
  }

  private options(header: XNode | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const o of childrenOf(child(header, NS.w, 'OptionSet'), NS.w, 'Option'))
      if (o.attrs.Name) out[o.attrs.Name] = o.text.trim();
    return out;
  }

  private async dispatch(
    op: WsmanOperation | 'Unknown',
    env: XNode,
    header: XNode | undefined,
    user: string,
    req: http.IncomingMessage,
  ): Promise<{ action: string; body: BuildNode | string }> {
    const body = child(env, NS.s, 'Body');
    const resource = child(header, NS.w, 'ResourceURI')?.text.trim();
    if (op !== 'Unknown' && resource !== RESOURCE_URI_CMD) {
      throw new SoapFault(
        's:Sender',
        'w:DestinationUnreachable',
        2150858770,
        'The WS-Management service cannot process the request because the resource URI is not valid or the resource is not available.',
      );
    }
    switch (op) {
      case 'Create': {
        const owned = [...this.shells.values()].filter((s) => s.user.toLowerCase() === user.toLowerCase()).length;
        const max = this.o.maxShellsPerUser ?? 30;
        if (owned >= max) {
          throw new SoapFault(
            's:Receiver',
            'w:InternalError',
            FAULT.quotaMaxShells,
            `The WS-Management service cannot process the request. This user is allowed a maximum number of ${max} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. `,
          );
        }
        const opts = this.options(header);
        const envVars: Record<string, string> = {};
        for (const v of childrenOf(path(body, [NS.rsp, 'Shell'], [NS.rsp, 'Environment']), NS.rsp, 'Variable'))
          if (v.attrs.Name) envVars[v.attrs.Name] = v.text;
        const id = randomUUID().toUpperCase();
        this.shells.set(id, {
          id,
          user,
          codepage: Number(opts.WINRS_CODEPAGE ?? 437) || 437,
          env: envVars,
          commands: new Map(),
        });
        const proto = this.o.tls ? 'https' : 'http';
        return {
          action: ACTION.createResponse,
          body: {
            'x:ResourceCreated': {
              'a:Address': `${proto}://${this.o.address}:${this.o.port}/wsman`,
              'a:ReferenceParameters': {
                'w:ResourceURI': RESOURCE_URI_CMD,
                'w:SelectorSet': { 'w:Selector': { $: { Name: 'ShellId' }, _: id } },
              },
            },
            'rsp:Shell': {
              $: { 'xmlns:rsp': NS.rsp },
              'rsp:ShellId': id,
              'rsp:ResourceUri': RESOURCE_URI_CMD,
              'rsp:Owner': user,
              'rsp:ClientIP': req.socket.remoteAddress ?? '',
              'rsp:IdleTimeOut': 'PT7200.000S',
              'rsp:InputStreams': 'stdin',
              'rsp:OutputStreams': 'stdout stderr',
              'rsp:ShellRunTime': 'P0DT0H0M0S',
              'rsp:ShellInactivity': 'P0DT0H0M0S',
            },
          },
        };
      }
      case 'Command': {
        const shell = this.shellFor(header);
        const line = path(body, [NS.rsp, 'CommandLine']);
        const command = child(line, NS.rsp, 'Command')?.text ?? '';
        const args = childrenOf(line, NS.rsp, 'Arguments').map((a) => a.text);
        const commandLine = [command.trim(), ...args].join(' ');
        const proc = this.o.startProcess(commandLine, shell);
        const id = randomUUID().toUpperCase();
        shell.commands.set(id, proc);
        return { action: ACTION.commandResponse, body: { 'rsp:CommandResponse': { 'rsp:CommandId': id } } };
      }
      case 'Send': {
        const shell = this.shellFor(header);
        for (const s of childrenOf(child(body, NS.rsp, 'Send'), NS.rsp, 'Stream')) {
          const proc = shell.commands.get((s.attrs.CommandId ?? '').toUpperCase());
          if (!proc)
            throw new SoapFault(
              's:Sender',
              'w:InvalidParameter',
              2150858882,
              'The WS-Management service cannot process the request because the CommandId is not valid.',
            );
          proc.feedStdin(Buffer.from(s.text.trim(), 'base64'), s.attrs.End === 'true');
        }
        return { action: ACTION.sendResponse, body: { 'rsp:SendResponse': '' } };
      }
      case 'Receive': {
        const shell = this.shellFor(header);
        const ds = path(body, [NS.rsp, 'Receive'], [NS.rsp, 'DesiredStream']);
        const commandId = (ds?.attrs.CommandId ?? '').toUpperCase();
        const proc = shell.commands.get(commandId);
        if (!proc)
          throw new SoapFault(
            's:Sender',
            'w:InvalidParameter',
            2150858882,
            'The WS-Management service cannot process the request because the CommandId is not valid.',
          );
        const timeout = parseDuration(child(header, NS.w, 'OperationTimeout')?.text);
        const gone = new AbortController();
        req.socket.once('close', () => gone.abort());
        await proc.waitForOutput(timeout, gone.signal);
        if (!this.shells.has(shell.id)) throw this.shellNotFound(shell.id);
        const chunks = proc.take(this.o.maxReceiveBytes ?? 96 * 1024);
        const done = proc.exitCode !== undefined && !proc.hasOutput;
        if (chunks.length === 0 && !done) {
          throw new SoapFault('s:Receiver', 'w:TimedOut', FAULT.operationTimeout, FAULT_TEXT[FAULT.operationTimeout]!);
        }
        const streams: BuildNode[] = chunks.map((c) => ({
          $: { Name: c.stream, CommandId: commandId },
          _: encodeOutput(c.data, shell.codepage).toString('base64'),
        }));
        const resp: BuildNode = {};
        if (done) {
          streams.push(
            { $: { Name: 'stdout', CommandId: commandId, End: 'true' } },
            { $: { Name: 'stderr', CommandId: commandId, End: 'true' } },
          );
          resp['rsp:CommandState'] = {
            $: { CommandId: commandId, State: STATE_DONE },
            'rsp:ExitCode': String(proc.exitCode),
          };
        } else {
          resp['rsp:CommandState'] = { $: { CommandId: commandId, State: STATE_RUNNING } };
        }
        return { action: ACTION.receiveResponse, body: { 'rsp:ReceiveResponse': { 'rsp:Stream': streams, ...resp } } };
      }
      case 'Signal': {
        const shell = this.shellFor(header);
        const sig = child(body, NS.rsp, 'Signal');
        const id = (sig?.attrs.CommandId ?? '').toUpperCase();
        const code = child(sig, NS.rsp, 'Code')?.text.trim();
        const proc = shell.commands.get(id);
        if (proc && (code === SIGNAL_TERMINATE || code === SIGNAL_CTRL_C)) {
          proc.terminate();
          shell.commands.delete(id);
        }
        return { action: ACTION.signalResponse, body: { 'rsp:SignalResponse': '' } };
      }
      case 'Delete': {
        const shell = this.shellFor(header);
        for (const p of shell.commands.values()) p.terminate();
        this.shells.delete(shell.id);
        return { action: ACTION.deleteResponse, body: '' };
      }
      default:
        throw new SoapFault(
          's:Sender',
          'a:ActionNotSupported',
          2150858892,
          `The action is not supported by the service: ${child(header, NS.a, 'Action')?.text ?? '(none)'}`,
        );
    }
  }
}
