// Work that outlives a WinRM shell (MSI installs that swap the NIC, sysprep): launched through
// Win32_Process.Create so the shell's job object does not own it, then followed by polling short commands —
// tolerant of the connection breaking and of reboots, bounded by a deadline.
import { encodePowerShell, psQuote } from '../../winrm/powershell.js';
import { XenimageError } from '../../errors.js';
import { isTransient, lastJson, openClient, runScript, sleep, type GuestContext } from './session.js';

/** Starts `script` detached; returns the guest process id. */
export async function launchDetached(ctx: GuestContext, script: string): Promise<number> {
  const commandLine = `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ${encodePowerShell(script)}`;
  const client = openClient(ctx);
  try {
    const r = await runScript(
      client,
      ctx,
      [
        "$ErrorActionPreference = 'Stop'",
        `$r = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = ${psQuote(commandLine)} }`,
        'Write-Output (ConvertTo-Json -Compress -InputObject @{ pid = $r.ProcessId; rc = $r.ReturnValue })',
      ].join('\r\n'),
    );
    if (r.exitCode !== 0)
      throw new XenimageError(
        'GuestCommandFailed',
        `starting detached work failed (exit ${r.exitCode}): ${r.stderrText.trim().split(/\r?\n/)[0]}`,
        { retryable: true },
      );
    const j = lastJson<{ pid: number; rc: number }>(r, 'Win32_Process.Create');
    if (j.rc !== 0)
      throw new XenimageError('GuestCommandFailed', `Win32_Process.Create returned ${j.rc}`, { retryable: true });
    return j.pid;
  } finally {
    client.close();
  }
}

/**
 * Polls `probe` (a script printing one JSON line) until `done(result)` or the deadline; connection failures
 * while the guest reboots or swaps its NIC are waited out.
 */
export async function pollGuest<T>(
  ctx: GuestContext,
  probe: string,
  done: (r: T) => boolean,
  o: { timeoutMs: number; what: string },
): Promise<{ result: T | undefined; timedOut: boolean }> {
  const deadline = Date.now() + o.timeoutMs;
  let last: T | undefined;
  for (;;) {
    const client = openClient(ctx);
    try {
      const r = await runScript(client, ctx, probe);
      if (r.exitCode === 0) {
        last = lastJson<T>(r, o.what);
        if (done(last)) return { result: last, timedOut: false };
      }
    } catch (err) {
      if (!isTransient(err)) throw err;
      ctx.progress?.({ phase: o.what, transient: (err as { type?: string }).type });
    } finally {
      client.close();
    }
    if (Date.now() >= deadline) return { result: last, timedOut: true };
    ctx.progress?.({ phase: o.what, remainingMs: deadline - Date.now() });
    await sleep(ctx.pollMs ?? 10_000, ctx.signal);
  }
}
