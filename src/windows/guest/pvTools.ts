// The XenServer VM Tools in the guest: present and running → nothing to do; else install them from the answer
// CD, detached (the PV NIC replaces the emulated one mid-install and the connection drops), classify msiexec's
// exit code, reboot when the installer asks for it, and prove the agent service runs afterwards.
import { XenimageError } from '../../errors.js';
import { PV_TOOLS_LOG, pvToolsScript } from '../firstLogon.js';
import { launchDetached, pollGuest } from './detached.js';
import { rebootAndWait } from './reboot.js';
import { openClient, runScript, type GuestContext } from './session.js';

const STATUS = 'C:\\Windows\\Temp\\xenimage-pvtools.status';

export interface PvToolsResult {
  alreadyInstalled: boolean;
  exitCode: number | null;
  rebooted: boolean;
}

const PROBE_AGENT = [
  "$s = Get-Service -Name 'xenagent' -ErrorAction SilentlyContinue",
  "Write-Output (ConvertTo-Json -Compress -InputObject @{ installed = ($s -ne $null); running = ($s.Status -eq 'Running') })",
].join('\r\n');

const PROBE_STATUS = [
  `if (Test-Path -Path '${STATUS}') { $c = (Get-Content -Path '${STATUS}' -Raw).Trim() } else { $c = '' }`,
  "Write-Output (ConvertTo-Json -Compress -InputObject @{ done = ($c -ne ''); code = $c })",
].join('\r\n');

/** The agent service's state; waits out a guest that is rebooting (bounded). */
async function agent(ctx: GuestContext, timeoutMs: number): Promise<{ installed: boolean; running: boolean }> {
  const { result } = await pollGuest<{ installed: boolean; running: boolean }>(ctx, PROBE_AGENT, () => true, {
    timeoutMs,
    what: 'xenagent probe',
  });
  if (!result)
    throw new XenimageError(
      'GuestCommandFailed',
      'the xenagent service could not be queried (the guest did not answer)',
      { retryable: true },
    );
  return result;
}

async function logTail(ctx: GuestContext, file: string, lines = 30): Promise<string[]> {
  const client = openClient(ctx);
  try {
    const r = await runScript(client, ctx, `Get-Content -Path '${file}' -Tail ${lines} -ErrorAction SilentlyContinue`);
    return r.stdoutText.split(/\r?\n/).filter(Boolean);
  } catch {
    return [];
  } finally {
    client.close();
  }
}

export class MsiFailure extends XenimageError {}

/** Turns a Windows Installer exit code into the engine's typed outcome. */
export function classifyMsiExit(product: string, code: number, log: string[]): MsiFailure | null {
  if (code === 0 || code === 3010 || code === 1641) return null;
  const details = { product, exitCode: code, log: log.filter((l) => /Return value 3|error|failed/i.test(l)).slice(-5) };
  if (code === 1618)
    return new MsiFailure('MsiBusy', `${product}: another installation is in progress (msiexec 1618); retry later`, {
      retryable: true,
      details,
    });
  if (code === 1619 || code === 1620)
    return new MsiFailure(
      'MsiPackageUnreadable',
      `${product}: the installer package cannot be opened (msiexec ${code}): is the answer CD attached?`,
      { retryable: false, details },
    );
  if (code === 1603)
    return new MsiFailure(
      'MsiFatalError',
      `${product}: fatal error during installation (msiexec 1603); see ${details.log.length ? details.log.join(' | ') : 'the MSI log'}`,
      { retryable: false, details },
    );
  return new MsiFailure('MsiFailed', `${product}: msiexec exited ${code}`, { retryable: false, details });
}

export async function ensurePvTools(
  ctx: GuestContext,
  o: { volumeLabel: string; timeoutMs: number },
): Promise<PvToolsResult> {
  const before = await agent(ctx, o.timeoutMs);
  if (before.installed && before.running) return { alreadyInstalled: true, exitCode: null, rebooted: false };
  if (before.installed) {
    // Installed by the first-logon script, drivers waiting for their reboot.
    await rebootAndWait(ctx, { timeoutMs: o.timeoutMs, issue: true });
  } else {
    const client = openClient(ctx);
    try {
      await runScript(client, ctx, `Remove-Item -Path '${STATUS}' -Force -ErrorAction SilentlyContinue`);
    } finally {
      client.close();
    }
    await launchDetached(ctx, pvToolsScript(o.volumeLabel));
    const { result, timedOut } = await pollGuest<{ done: boolean; code: string }>(ctx, PROBE_STATUS, (r) => r.done, {
      timeoutMs: o.timeoutMs,
      what: 'PV tools install',
    });
    if (timedOut || !result)
      throw new XenimageError(
        'PvToolsInstallTimeout',
        `the PV tools install did not finish within ${Math.round(o.timeoutMs / 1000)} s`,
        { retryable: false },
      );
    const code = Number(result.code);
    const failure = classifyMsiExit('XenServer VM Tools', code, code === 0 ? [] : await logTail(ctx, PV_TOOLS_LOG));
    if (failure) throw failure;
    if (code === 3010 || code === 1641) await rebootAndWait(ctx, { timeoutMs: o.timeoutMs, issue: code === 3010 });
    const after = await agent(ctx, o.timeoutMs);
    if (!after.installed || !after.running)
      throw new XenimageError(
        'PvToolsNotRunning',
        `msiexec reported ${code} but the xenagent service is ${after.installed ? 'not running' : 'missing'}`,
        { retryable: false },
      );
    return { alreadyInstalled: false, exitCode: code, rebooted: code === 3010 || code === 1641 };
  }
  const after = await agent(ctx, o.timeoutMs);
  if (!after.running)
    throw new XenimageError('PvToolsNotRunning', 'the xenagent service does not run after the reboot', {
      retryable: false,
    });
  return { alreadyInstalled: true, exitCode: null, rebooted: true };
}
