// A reboot seen from WinRM: the shell opened before it disappears (shell not found, refused, reset); then the
// service answers again. Bounded; the caller decides what a timeout means.
import { XenimageError } from '../../errors.js';
import { isTransient, openClient, sleep, type GuestContext } from './session.js';
import { waitForWinrm } from './waitForWinrm.js';

/** Runs `shutdown /r` (unless the guest already reboots itself) and waits until WinRM is back after it. */
export async function rebootAndWait(
  ctx: GuestContext,
  o: { timeoutMs: number; issue: boolean; reason?: string },
): Promise<void> {
  const client = openClient(ctx);
  const started = Date.now();
  try {
    const shell = await client.openShell({ signal: ctx.signal });
    if (o.issue) {
      try {
        const r = await client.run('shutdown', ['/r', '/t', '5', '/c', o.reason ?? 'xenimage: PV drivers'], {
          signal: ctx.signal,
        });
        if (r.exitCode !== 0)
          throw new XenimageError('GuestCommandFailed', `shutdown /r exited ${r.exitCode}`, { retryable: true });
      } catch (err) {
        // The reboot may begin before the command's own cleanup finishes.
        if (!isTransient(err)) throw err;
      }
    }
    // The shell opened before the reboot stops existing with the old boot.
    for (;;) {
      try {
        const id = await shell.startCommand('hostname', [], ctx.signal);
        await shell.collect(id, { signal: ctx.signal });
      } catch (err) {
        if (isTransient(err)) break;
        throw err;
      }
      if (Date.now() - started > o.timeoutMs)
        throw new XenimageError(
          'GuestRebootTimeout',
          `the guest did not reboot within ${Math.round(o.timeoutMs / 1000)} s`,
          { retryable: true },
        );
      ctx.progress?.({ phase: 'waiting for the reboot' });
      await sleep(ctx.pollMs ?? 5000, ctx.signal);
    }
  } finally {
    client.close();
  }
  // The new boot may have a new address: read it from the agent's report before waiting for WinRM there.
  if (ctx.relocate) {
    ctx.progress?.({ phase: 'reading the guest address after the reboot' });
    ctx.guest = { ...ctx.guest, address: await ctx.relocate(Math.max(1000, o.timeoutMs - (Date.now() - started))) };
  }
  await waitForWinrm(ctx, Math.max(1000, o.timeoutMs - (Date.now() - started)));
}
