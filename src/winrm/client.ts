// WinRM shell client with pywinrm's semantics: Create (codepage 65001) → Command (+ Arguments) → Send stdin →
// Receive until CommandState Done, polling again on the OperationTimeout fault → Signal terminate → Delete.
// Results are bytes plus the exit code; every failure is a typed WinrmError; every call takes an AbortSignal.
import type { Logger } from 'pino';
import { log } from '../log.js';
import { WinrmFaultError, WinrmProtocolError, faultType } from './errors.js';
import {
  ACTION,
  buildRequest,
  commandBody,
  createBody,
  parseEnvelope,
  readCommandId,
  readReceive,
  readShellId,
  receiveBody,
  sendBody,
  signalBody,
  type BuildNode,
  type ParsedEnvelope,
} from './messages.js';
import { encodePowerShell } from './powershell.js';
import { FAULT, SIGNAL_TERMINATE } from './protocol.js';
import { SoapTransport, type WinrmEndpoint } from './transport.js';

export type { BuildNode };

export interface WinrmClientOptions extends WinrmEndpoint {
  /** Seconds a Receive may long-poll on the server (w:OperationTimeout). Default 20, as pywinrm. */
  operationTimeoutSec?: number;
  /** Added to OperationTimeout for the HTTP request timeout. Default 10 s. */
  requestMarginMs?: number;
  /** WINRS_CODEPAGE; 65001 = UTF-8 (default). */
  codepage?: number;
  log?: Logger;
}

export interface ShellOptions {
  workingDirectory?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface RunOptions extends ShellOptions {
  /** Written to the command's stdin, then stdin is closed (End="true"). */
  stdin?: Buffer | string;
  /** Called after every Receive (with or without output): activities heartbeat here. */
  onPoll?: (progress: { receives: number; stdoutBytes: number; stderrBytes: number }) => void;
}

export interface CommandResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

const KILLED_BY_CLEANUP_MS = 5000;

export class WinrmShell {
  closed = false;
  constructor(
    private readonly client: WinrmClient,
    readonly shellId: string,
  ) {}

  async startCommand(command: string, args: string[] = [], signal?: AbortSignal): Promise<string> {
    const env = await this.client.call(ACTION.command, {
      shellId: this.shellId,
      options: { WINRS_CONSOLEMODE_STDIN: 'TRUE', WINRS_SKIP_CMD_SHELL: 'FALSE' },
      body: commandBody(command, args),
      signal,
    });
    const id = readCommandId(env);
    if (!id) throw new WinrmProtocolError(this.client.url, 'Command', 'the response carries no CommandId');
    return id;
  }

  async send(commandId: string, data: Buffer, end: boolean, signal?: AbortSignal): Promise<void> {
    await this.client.call(ACTION.send, { shellId: this.shellId, body: sendBody(commandId, data, end), signal });
  }

  /** One Receive; `null` when the server answered with the OperationTimeout fault (no output yet). */
  async receiveOnce(commandId: string, signal?: AbortSignal): Promise<ReturnType<typeof readReceive> | null> {
    try {
      const env = await this.client.call(ACTION.receive, {
        shellId: this.shellId,
        options: { WSMAN_CMDSHELL_OPTION_KEEPALIVE: 'TRUE' },
        body: receiveBody(commandId),
        signal,
      });
      return readReceive(env, commandId);
    } catch (err) {
      if (err instanceof WinrmFaultError && err.wsmanCode === FAULT.operationTimeout) return null;
      throw err;
    }
  }

  /** Receives until CommandState Done, assembling every chunk. */
  async collect(commandId: string, opts: Pick<RunOptions, 'signal' | 'onPoll'> = {}): Promise<CommandResult> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let receives = 0;
    let so = 0;
    let se = 0;
    for (;;) {
      const chunk = await this.receiveOnce(commandId, opts.signal);
      receives++;
      if (chunk) {
        stdout.push(...chunk.stdout);
        stderr.push(...chunk.stderr);
        so += chunk.stdout.reduce((n, b) => n + b.length, 0);
        se += chunk.stderr.reduce((n, b) => n + b.length, 0);
      }
      opts.onPoll?.({ receives, stdoutBytes: so, stderrBytes: se });
      if (chunk?.done)
        return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exitCode: chunk.exitCode ?? -1 };
    }
  }

  async signal(commandId: string, code = SIGNAL_TERMINATE, signal?: AbortSignal): Promise<void> {
    await this.client.call(ACTION.signal, { shellId: this.shellId, body: signalBody(commandId, code), signal });
  }

  async close(signal?: AbortSignal): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.call(ACTION.delete, { shellId: this.shellId, signal });
  }
}

export class WinrmClient {
  readonly url: string;
  readonly operationTimeoutSec: number;
  private readonly transport: SoapTransport;
  private readonly requestTimeoutMs: number;
  private readonly codepage: number;
  private readonly log: Logger;

  constructor(options: WinrmClientOptions) {
    this.transport = new SoapTransport(options);
    this.url = this.transport.url;
    this.operationTimeoutSec = options.operationTimeoutSec ?? 20;
    this.requestTimeoutMs = this.operationTimeoutSec * 1000 + (options.requestMarginMs ?? 10_000);
    this.codepage = options.codepage ?? 65001;
    this.log = (options.log ?? log()).child({ component: 'winrm', endpoint: this.url });
  }

  /** Sends one operation; returns the parsed envelope, or throws the fault / transport error, typed. */
  async call(
    action: string,
    o: {
      shellId?: string;
      options?: Record<string, string>;
      body?: BuildNode;
      signal?: AbortSignal;
      timeoutMs?: number;
    },
  ): Promise<ParsedEnvelope> {
    const op = action.slice(action.lastIndexOf('/') + 1);
    const req = buildRequest({
      to: this.url,
      action,
      operationTimeoutSec: this.operationTimeoutSec,
      shellId: o.shellId,
      options: o.options,
      body: o.body,
    });
    const res = await this.transport.post(req.xml, op, o.timeoutMs ?? this.requestTimeoutMs, o.signal);
    let env: ParsedEnvelope;
    try {
      env = await parseEnvelope(res.body);
    } catch (err) {
      throw new WinrmProtocolError(
        this.url,
        op,
        `HTTP ${res.status} with a body that is not a SOAP envelope (${(err as Error).message.split('\n')[0]})`,
        {
          httpStatus: res.status,
        },
      );
    }
    if (env.fault) {
      const { type, retryable } = faultType(env.fault.wsmanCode);
      throw new WinrmFaultError(type, this.url, op, env.fault, retryable);
    }
    if (res.status !== 200)
      throw new WinrmProtocolError(this.url, op, `HTTP ${res.status} without a SOAP fault`, { httpStatus: res.status });
    if (env.relatesTo !== req.messageId) {
      throw new WinrmProtocolError(
        this.url,
        op,
        `RelatesTo ${env.relatesTo ?? '(missing)'} does not match MessageID ${req.messageId}`,
      );
    }
    return env;
  }

  async openShell(opts: ShellOptions = {}): Promise<WinrmShell> {
    const env = await this.call(ACTION.create, {
      options: { WINRS_NOPROFILE: 'FALSE', WINRS_CODEPAGE: String(this.codepage) },
      body: createBody(opts),
      signal: opts.signal,
    });
    const id = readShellId(env);
    if (!id) throw new WinrmProtocolError(this.url, 'Create', 'the response carries no ShellId');
    return new WinrmShell(this, id);
  }

  /**
   * Runs one command to completion in its own shell. Cleanup (Signal, Delete) never masks the command's own
   * error, and is skipped when the connection itself is what failed.
   */
  async run(command: string, args: string[] = [], opts: RunOptions = {}): Promise<CommandResult> {
    const shell = await this.openShell(opts);
    let commandId: string | undefined;
    try {
      commandId = await shell.startCommand(command, args, opts.signal);
      if (opts.stdin !== undefined) {
        await shell.send(
          commandId,
          Buffer.isBuffer(opts.stdin) ? opts.stdin : Buffer.from(opts.stdin, 'utf8'),
          true,
          opts.signal,
        );
      }
      const result = await shell.collect(commandId, opts);
      await this.cleanup(shell, commandId);
      return result;
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type !== 'WinrmConnectionLost' && type !== 'WinrmUnreachable' && type !== 'WinrmRequestTimeout') {
        await this.cleanup(shell, commandId);
      }
      throw err;
    }
  }

  /** Runs a PowerShell script through `-EncodedCommand` (no cmd.exe quoting or %VAR% expansion applies). */
  runPowerShell(script: string, opts: RunOptions = {}): Promise<CommandResult> {
    return this.run(
      'powershell.exe',
      ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', encodePowerShell(script)],
      opts,
    );
  }

  private async cleanup(shell: WinrmShell, commandId: string | undefined): Promise<void> {
    const signal = AbortSignal.timeout(KILLED_BY_CLEANUP_MS + this.requestTimeoutMs);
    try {
      if (commandId) await shell.signal(commandId, SIGNAL_TERMINATE, signal);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'Signal terminate failed (ignored)');
    }
    try {
      await shell.close(signal);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'shell Delete failed (ignored)');
    }
  }

  close(): void {
    this.transport.close();
  }
}

/** Decodes output per the shell codepage used by this module (UTF-8). */
export function outputText(b: Buffer): string {
  return b.toString('utf8');
}
