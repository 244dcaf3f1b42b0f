// The WS-Management shell service of a simulated Windows: Windows' exact prefixes (s, a, x, w, rsp, p, f),
// RelatesTo on every answer, HTTP 401 with Windows' headers, SOAP faults with HTTP 500 and real WSManFault codes,
// Receive long-polls that end in the OperationTimeout fault (2150858793), output split across Receives, shells
// that vanish with the service (2150858843), and the per-user shell quota (2150859173). Written from the
// specifications with the lab's own XML, sharing nothing with the client it checks
// (docs/decisions/windows-0006-lab-wsman-server-from-the-specifications.md).
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { GuestProcess } from './process.js';
import {
  ANONYMOUS_ROLE,
  CMD_SHELL_URI,
  COMMAND_STATE,
  FAULT_ACTION,
  SHELL_OPERATIONS,
  SIGNALS_THAT_END,
  WINDOWS_PREFIX,
  WSMAN_FAULT_CODE as CODE,
  WSMAN_NS as NS,
  type ShellOperation,
} from './wsmanSpec.js';
import { isNtlm, ntlmChallenge, ntlmType, readNtlmAuthenticate } from './wsmanNtlm.js';
import { childOf, childrenOf, parseSoap, writeXml, type SoapElement, type XmlOut } from './wsmanXml.js';

export interface WsmanShell {
  id: string;
  user: string;
  codepage: number;
  env: Record<string, string>;
  commands: Map<string, GuestProcess>;
}

export type WsmanOperation = ShellOperation;

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

const OPERATION_TIMEOUT_TEXT =
  'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ';

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
    let env: SoapElement | undefined;
    try {
      env = parseSoap(body);
    } catch {
      env = undefined; // not well-formed: answered with the schema validation fault below
    }
    const header = childOf(env, NS.soap, 'Header');
    const action = childOf(header, NS.addressing, 'Action')?.text.trim() ?? '';
    const op = ((Object.keys(SHELL_OPERATIONS) as ShellOperation[]).find(
      (name) => SHELL_OPERATIONS[name].request === action,
    ) ?? 'Unknown') as WsmanOperation | 'Unknown';
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
    const messageId = childOf(header, NS.addressing, 'MessageID')?.text.trim() ?? '';
    if (op !== 'Unknown') this.requests.push(op);
    try {
      if (!env || env.ns !== NS.soap || env.local !== 'Envelope') {
        throw new SoapFault(
          's:Sender',
          'w:SchemaValidationError',
          CODE.schemaValidation,
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
          : new SoapFault('s:Receiver', 'w:InternalError', CODE.internalError, (err as Error).message);
      this.send(res, 500, FAULT_ACTION, messageId, {
        's:Fault': {
          's:Code': { 's:Value': f.code, 's:Subcode': { 's:Value': f.subcode } },
          's:Reason': { 's:Text': { '@_xml:lang': 'en-US', '#text': f.message } },
          's:Detail': {
            'f:WSManFault': {
              '@_xmlns:f': NS.fault,
              '@_Code': String(f.wsmanCode),
              '@_Machine': this.o.machineName,
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
    if (!isNtlm(token) || !this.o.authenticateNtlm) return undefined;
    // Without message sealing, NTLM over plain HTTP needs AllowUnencrypted, like Basic.
    if (!this.o.tls && !this.o.allowUnencrypted()) return undefined;
    if (ntlmType(token) === 1) {
      conn.challenge = randomBytes(8);
      return { challenge: ntlmChallenge(conn.challenge, this.o.machineName).toString('base64') };
    }
    const message = readNtlmAuthenticate(token);
    if (!message || !conn.challenge) return undefined;
    const challenge = conn.challenge;
    conn.challenge = undefined;
    const result = this.o.authenticateNtlm(message.user, message.domain, challenge, message.ntResponse);
    if (result !== 'ok') return undefined;
    conn.user = message.user;
    return { user: message.user };
  }

  private send(
    res: http.ServerResponse,
    status: number,
    action: string,
    relatesTo: string,
    body: XmlOut | string,
  ): void {
    if (res.destroyed || !this.server) return;
    const declarations = Object.fromEntries(Object.entries(WINDOWS_PREFIX).map(([p, uri]) => [`@_xmlns:${p}`, uri]));
    const xml = writeXml({
      's:Envelope': {
        '@_xml:lang': 'en-US',
        ...declarations,
        's:Header': {
          'a:Action': action,
          'a:MessageID': `uuid:${randomUUID().toUpperCase()}`,
          'a:To': ANONYMOUS_ROLE,
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
      CODE.shellNotFound,
      `The request for the Windows Remote Shell with ShellId ${id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. `,
    );
  }

  private shellFor(header: SoapElement | undefined): WsmanShell {
    const sel = childrenOf(childOf(header, NS.wsman, 'SelectorSet'), NS.wsman, 'Selector').find(
      (s) => s.attrs.Name === 'ShellId',
    );
    const id = sel?.text.trim() ?? '';
    const shell = this.shells.get(id.toUpperCase());
    if (!shell) throw this.shellNotFound(id);
    return shell;
  }

  private options(header: SoapElement | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const o of childrenOf(childOf(header, NS.wsman, 'OptionSet'), NS.wsman, 'Option'))
      if (o.attrs.Name) out[o.attrs.Name] = o.text.trim();
    return out;
  }

  private async dispatch(
    op: WsmanOperation | 'Unknown',
    env: SoapElement,
    header: SoapElement | undefined,
    user: string,
    req: http.IncomingMessage,
  ): Promise<{ action: string; body: XmlOut | string }> {
    const body = childOf(env, NS.soap, 'Body');
    const resource = childOf(header, NS.wsman, 'ResourceURI')?.text.trim();
    if (op !== 'Unknown' && resource !== CMD_SHELL_URI) {
      throw new SoapFault(
        's:Sender',
        'w:DestinationUnreachable',
        CODE.destinationUnreachable,
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
            CODE.maxShellsExceeded,
            `The WS-Management service cannot process the request. This user is allowed a maximum number of ${max} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. `,
          );
        }
        const opts = this.options(header);
        const envVars: Record<string, string> = {};
        const environment = childOf(childOf(body, NS.shell, 'Shell'), NS.shell, 'Environment');
        for (const v of childrenOf(environment, NS.shell, 'Variable')) if (v.attrs.Name) envVars[v.attrs.Name] = v.text;
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
          action: SHELL_OPERATIONS.Create.response,
          body: {
            'x:ResourceCreated': {
              'a:Address': `${proto}://${this.o.address}:${this.o.port}/wsman`,
              'a:ReferenceParameters': {
                'w:ResourceURI': CMD_SHELL_URI,
                'w:SelectorSet': { 'w:Selector': { '@_Name': 'ShellId', '#text': id } },
              },
            },
            'rsp:Shell': {
              '@_xmlns:rsp': NS.shell,
              'rsp:ShellId': id,
              'rsp:ResourceUri': CMD_SHELL_URI,
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
        const line = childOf(body, NS.shell, 'CommandLine');
        const command = childOf(line, NS.shell, 'Command')?.text ?? '';
        const args = childrenOf(line, NS.shell, 'Arguments').map((a) => a.text);
        const commandLine = [command.trim(), ...args].join(' ');
        const proc = this.o.startProcess(commandLine, shell);
        const id = randomUUID().toUpperCase();
        shell.commands.set(id, proc);
        return {
          action: SHELL_OPERATIONS.Command.response,
          body: { 'rsp:CommandResponse': { 'rsp:CommandId': id } },
        };
      }
      case 'Send': {
        const shell = this.shellFor(header);
        for (const s of childrenOf(childOf(body, NS.shell, 'Send'), NS.shell, 'Stream')) {
          const proc = shell.commands.get((s.attrs.CommandId ?? '').toUpperCase());
          if (!proc)
            throw new SoapFault(
              's:Sender',
              'w:InvalidParameter',
              CODE.invalidCommandId,
              'The WS-Management service cannot process the request because the CommandId is not valid.',
            );
          proc.feedStdin(Buffer.from(s.text.trim(), 'base64'), s.attrs.End === 'true');
        }
        return { action: SHELL_OPERATIONS.Send.response, body: { 'rsp:SendResponse': '' } };
      }
      case 'Receive': {
        const shell = this.shellFor(header);
        const ds = childOf(childOf(body, NS.shell, 'Receive'), NS.shell, 'DesiredStream');
        const commandId = (ds?.attrs.CommandId ?? '').toUpperCase();
        const proc = shell.commands.get(commandId);
        if (!proc)
          throw new SoapFault(
            's:Sender',
            'w:InvalidParameter',
            CODE.invalidCommandId,
            'The WS-Management service cannot process the request because the CommandId is not valid.',
          );
        const timeout = parseDuration(childOf(header, NS.wsman, 'OperationTimeout')?.text);
        // The poll ends early when the client goes away; the listener goes with the poll, since a keep-alive
        // connection carries many Receives.
        const gone = new AbortController();
        const abort = (): void => gone.abort();
        req.socket.once('close', abort);
        try {
          await proc.waitForOutput(timeout, gone.signal);
        } finally {
          req.socket.off('close', abort);
        }
        if (!this.shells.has(shell.id)) throw this.shellNotFound(shell.id);
        const chunks = proc.take(this.o.maxReceiveBytes ?? 96 * 1024);
        const done = proc.exitCode !== undefined && !proc.hasOutput;
        if (chunks.length === 0 && !done) {
          throw new SoapFault('s:Receiver', 'w:TimedOut', CODE.operationTimeout, OPERATION_TIMEOUT_TEXT);
        }
        const streams: XmlOut[] = chunks.map((c) => ({
          '@_Name': c.stream,
          '@_CommandId': commandId,
          '#text': encodeOutput(c.data, shell.codepage).toString('base64'),
        }));
        if (done) {
          streams.push(
            { '@_Name': 'stdout', '@_CommandId': commandId, '@_End': 'true' },
            { '@_Name': 'stderr', '@_CommandId': commandId, '@_End': 'true' },
          );
        }
        const state: XmlOut = done
          ? { '@_CommandId': commandId, '@_State': COMMAND_STATE.done, 'rsp:ExitCode': String(proc.exitCode) }
          : { '@_CommandId': commandId, '@_State': COMMAND_STATE.running };
        return {
          action: SHELL_OPERATIONS.Receive.response,
          body: { 'rsp:ReceiveResponse': { 'rsp:Stream': streams, 'rsp:CommandState': state } },
        };
      }
      case 'Signal': {
        const shell = this.shellFor(header);
        const sig = childOf(body, NS.shell, 'Signal');
        const id = (sig?.attrs.CommandId ?? '').toUpperCase();
        const code = childOf(sig, NS.shell, 'Code')?.text.trim() ?? '';
        const proc = shell.commands.get(id);
        if (proc && SIGNALS_THAT_END.includes(code)) {
          proc.terminate();
          shell.commands.delete(id);
        }
        return { action: SHELL_OPERATIONS.Signal.response, body: { 'rsp:SignalResponse': '' } };
      }
      case 'Delete': {
        const shell = this.shellFor(header);
        for (const p of shell.commands.values()) p.terminate();
        this.shells.delete(shell.id);
        return { action: SHELL_OPERATIONS.Delete.response, body: '' };
      }
      default:
        throw new SoapFault(
          's:Sender',
          'a:ActionNotSupported',
          CODE.actionNotSupported,
          `The action is not supported by the service: ${childOf(header, NS.addressing, 'Action')?.text ?? '(none)'}`,
        );
    }
  }
}
