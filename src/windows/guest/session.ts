// What every guest operation shares: a WinRM client for one guest, scripts run through -EncodedCommand with
// their output judged by exit code (never by stderr), typed failures, and cancellable waits that report progress.
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { XenimageError } from '../../errors.js';
import { log as rootLog } from '../../log.js';
import { WinrmClient, decodeClixml, type CommandResult, type RunOptions } from '../../winrm/index.js';

export interface GuestEndpoint {
  address: string;
  port: number;
  https: boolean;
  /** PEM of the listener certificate the client pins (HTTPS). */
  certificatePem?: string;
  username: string;
  password: string;
  auth?: 'basic' | 'ntlm';
}

export interface GuestContext {
  guest: GuestEndpoint;
  signal?: AbortSignal;
  /** Called while waiting or polling (activities heartbeat from here). */
  progress?: (p: Record<string, unknown>) => void;
  log?: Logger;
  /** Poll interval for detached work and reachability checks. */
  pollMs?: number;
  /** Long-poll length of WinRM Receives. */
  operationTimeoutSec?: number;
  /** Added to OperationTimeout for each HTTP request's own timeout. */
  requestMarginMs?: number;
  /**
   * Where the guest is after it rebooted: waits for its agent's report from the new boot and returns the address
   * (addresses move at every boot). Without it a reboot is assumed to keep the address.
   */
  relocate?: (timeoutMs: number) => Promise<string>;
}

export function openClient(
  ctx: GuestContext,
  override?: Partial<Pick<GuestEndpoint, 'username' | 'password'>>,
): WinrmClient {
  const g = ctx.guest;
  if (g.https && !g.certificatePem)
    throw new XenimageError(
      'InvalidInput',
      'an HTTPS guest connection needs the pinned listener certificate (certificatePem)',
      { retryable: false },
    );
  return new WinrmClient({
    host: g.address,
    port: g.port,
    https: g.https,
    username: override?.username ?? g.username,
    password: override?.password ?? g.password,
    auth: g.auth,
    tls: g.certificatePem ? { pinnedCertificate: g.certificatePem } : undefined,
    operationTimeoutSec: ctx.operationTimeoutSec ?? 20,
    requestMarginMs: ctx.requestMarginMs ?? 10_000,
    log: ctx.log,
  });
}

export function logger(ctx: GuestContext): Logger {
  return (ctx.log ?? rootLog()).child({ component: 'guest', guest: `${ctx.guest.address}:${ctx.guest.port}` });
}

/** A command that ran and failed: exit code and the decoded error text (never the command line). */
export class GuestCommandFailed extends XenimageError {
  constructor(what: string, exitCode: number, stderr: string, retryable = false) {
    super(
      'GuestCommandFailed',
      `${what} failed in the guest (exit code ${exitCode}): ${stderr.trim().split(/\r?\n/).slice(0, 3).join(' | ') || 'no error output'}`,
      {
        retryable,
        details: { exitCode },
      },
    );
  }
}

export interface ScriptResult extends CommandResult {
  stdoutText: string;
  stderrText: string;
}

export async function runScript(
  client: WinrmClient,
  ctx: GuestContext,
  script: string,
  opts: Pick<RunOptions, 'stdin'> = {},
): Promise<ScriptResult> {
  const r = await client.runPowerShell(script, {
    ...opts,
    signal: ctx.signal,
    onPoll: (p) => ctx.progress?.({ receives: p.receives }),
  });
  return { ...r, stdoutText: r.stdout.toString('utf8'), stderrText: await decodeClixml(r.stderr.toString('utf8')) };
}

export async function runCmd(
  client: WinrmClient,
  ctx: GuestContext,
  command: string,
  args: string[] = [],
): Promise<ScriptResult> {
  const r = await client.run(command, args, {
    signal: ctx.signal,
    onPoll: (p) => ctx.progress?.({ receives: p.receives }),
  });
  return { ...r, stdoutText: r.stdout.toString('utf8'), stderrText: r.stderr.toString('utf8') };
}

/** Runs `script` on a client of its own; a non-zero exit fails `what` (retryable: the callers' scripts are idempotent). */
export async function runGuestScript(ctx: GuestContext, script: string, what: string): Promise<ScriptResult> {
  const client = openClient(ctx);
  try {
    const r = await runScript(client, ctx, script);
    if (r.exitCode !== 0) throw new GuestCommandFailed(what, r.exitCode, r.stderrText, true);
    return r;
  } finally {
    client.close();
  }
}

/** Runs a script that removes things and prints `removed <what>` for each; returns what it removed. */
export async function runRemoval(ctx: GuestContext, script: string, what: string): Promise<string[]> {
  return (await runGuestScript(ctx, script, what)).stdoutText
    .split(/\r?\n/)
    .filter((l) => l.startsWith('removed '))
    .map((l) => l.slice('removed '.length).trim());
}

/** The last JSON line a script printed. */
export function lastJson<T>(r: ScriptResult, what: string): T {
  const line = r.stdoutText.trim().split(/\r?\n/).pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new XenimageError(
      'GuestProtocolError',
      `${what}: the guest did not print the expected JSON (got "${line.slice(0, 120)}")`,
      { retryable: false },
    );
  }
}

/** Waits; on cancellation rejects with the signal's reason (Temporal's CancelledFailure), not a bare AbortError. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    throw signal?.aborted ? (signal.reason as Error) : err;
  }
}

/** True for failures that mean "the guest is not reachable right now" (booting, rebooting, NIC swap). */
export function isTransient(err: unknown): boolean {
  const type = (err as { type?: string }).type;
  return (
    type === 'WinrmUnreachable' ||
    type === 'WinrmConnectionLost' ||
    type === 'WinrmRequestTimeout' ||
    type === 'WinrmShellNotFound'
  );
}
