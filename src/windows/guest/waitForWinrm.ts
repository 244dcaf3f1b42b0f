// Waits, within a bound, until WinRM runs a command in the guest; when the bound passes, says why in terms an
// operator can act on (no listener at all, credentials refused, no answer), counting what each attempt saw.
import { XenimageError } from '../../errors.js';
import { logger, openClient, sleep, type GuestContext } from './session.js';

export interface WinrmReady {
  attempts: number;
  elapsedMs: number;
  computerName: string;
}

const HINTS: Record<string, string> = {
  WinrmUnreachable:
    'no WinRM listener answered (connection refused): Setup did not finish, or the answer file never enabled WinRM (check Autounattend.xml FirstLogonCommands and the firewall rule)',
  WinrmRequestTimeout: 'nothing answered at all: the VM has no network yet, is halted, or the address is wrong',
  WinrmConnectionLost: 'connections kept breaking: the VM is rebooting or swapping its NIC',
  WinrmAuthFailed:
    'the listener refused the credentials: Basic auth not enabled yet, wrong password, or a filtered token (LocalAccountTokenFilterPolicy)',
  WinrmShellNotFound: 'the service restarted between requests',
};

/** `attemptMs` bounds one probe (a blackholed listener costs at most that much per attempt). */
export async function waitForWinrm(ctx: GuestContext, timeoutMs: number, attemptMs = 15_000): Promise<WinrmReady> {
  const started = Date.now();
  const seen: Record<string, number> = {};
  let last: string | undefined;
  let attempts = 0;
  const log = logger(ctx);
  for (;;) {
    attempts++;
    const op = Math.max(1, Math.floor(attemptMs / 3000));
    const client = openClient({
      ...ctx,
      operationTimeoutSec: op,
      requestMarginMs: Math.max(500, attemptMs - op * 1000),
    });
    try {
      const r = await client.run('hostname', [], { signal: ctx.signal });
      if (r.exitCode === 0)
        return { attempts, elapsedMs: Date.now() - started, computerName: r.stdout.toString('utf8').trim() };
      last = `hostname exited ${r.exitCode}`;
      seen.GuestCommandFailed = (seen.GuestCommandFailed ?? 0) + 1;
    } catch (err) {
      if (ctx.signal?.aborted) throw err;
      const type = (err as { type?: string }).type ?? 'Error';
      // A certificate that is not the pinned one will not fix itself.
      if (type === 'WinrmTlsFailed') throw err;
      seen[type] = (seen[type] ?? 0) + 1;
      last = (err as Error).message;
    } finally {
      client.close();
    }
    const elapsed = Date.now() - started;
    ctx.progress?.({ phase: 'waiting for WinRM', attempts, elapsedMs: elapsed, lastError: last });
    if (elapsed >= timeoutMs) {
      const dominant = Object.entries(seen).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'unknown';
      const counts = Object.entries(seen)
        .map(([k, v]) => `${v}× ${k}`)
        .join(', ');
      log.warn({ attempts, seen }, 'WinRM never became reachable');
      throw new XenimageError(
        'WinrmNotReachable',
        `WinRM at ${ctx.guest.address}:${ctx.guest.port} did not answer within ${Math.round(timeoutMs / 1000)} s: ${HINTS[dominant] ?? 'unexpected failures'} (${attempts} attempts: ${counts}; last: ${last ?? 'none'})`,
        { retryable: false, details: { attempts, seen, dominant } },
      );
    }
    await sleep(Math.min(ctx.pollMs ?? 10_000, Math.max(0, timeoutMs - elapsed)), ctx.signal);
  }
}
