// The PV tools in the guest (XenServer VM Tools or XCP-ng Windows PV Tools): present and running → nothing to
// do; else install them from the answer CD or the pool's tools ISO (firstLogon.ts pvToolsScript), detached (the PV NIC replaces the emulated one mid-install and the connection drops), classify msiexec's
// exit code, reboot when the installer asks for it, and prove the agent service runs afterwards.
import { XenimageError } from '../../errors.js';
import { PV_TOOLS_LOG, PV_TOOLS_RECORD, PV_TOOLS_STATUS, pvToolsScript } from '../firstLogon.js';
import { MSI_NAME_PATTERN, PV_TOOLS_PRODUCT, type PvToolsKind } from '../pvToolsPackage.js';
import { launchDetached, pollGuest } from './detached.js';
import { rebootAndWait } from './reboot.js';
import { openClient, runScript, type GuestContext } from './session.js';

const STATUS = PV_TOOLS_STATUS;

export interface PvToolsInstaller {
  /** The MSI as the guest saw it (e.g. `D:\\managementagentx64.msi`). */
  msi: string;
  kind: PvToolsKind;
  /** The MSI properties it was installed with. */
  properties: string[];
}

export interface PvToolsResult {
  alreadyInstalled: boolean;
  exitCode: number | null;
  rebooted: boolean;
  /** What the build's tools script installed, when it (or the first logon) ran it. */
  installer?: PvToolsInstaller;
}

// The agent: XenServer's (and XCP-ng's before 9.2) `xenagent`, XCP-ng 9.2's `xenplus`.
const PROBE_AGENT = [
  "$s = Get-Service -Name 'xenagent' -ErrorAction SilentlyContinue",
  "if ($s -eq $null) { $s = Get-Service -Name 'xenplus' -ErrorAction SilentlyContinue }",
  "Write-Output (ConvertTo-Json -Compress -InputObject @{ installed = ($s -ne $null); running = ($s.Status -eq 'Running') })",
].join('\r\n');

const READ_RECORD = [
  `if (Test-Path -Path '${PV_TOOLS_RECORD}') { Write-Output (Get-Content -Path '${PV_TOOLS_RECORD}' -Raw) } else { Write-Output '{}' }`,
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

/** What the tools script recorded it ran; undefined when it never ran (tools installed some other way). */
async function installerRecord(ctx: GuestContext): Promise<PvToolsInstaller | undefined> {
  const client = openClient(ctx);
  try {
    const r = await runScript(client, ctx, READ_RECORD);
    const rec = JSON.parse(r.stdoutText.trim() || '{}') as { msi?: string; kind?: string; properties?: string };
    if (!rec.msi || (rec.kind !== 'xenserver' && rec.kind !== 'xcp-ng')) return undefined;
    return { msi: rec.msi, kind: rec.kind, properties: (rec.properties ?? '').split(' ').filter(Boolean) };
  } finally {
    client.close();
  }
}

export async function ensurePvTools(
  ctx: GuestContext,
  o: { volumeLabel: string; timeoutMs: number; windowsUpdateDrivers?: boolean },
): Promise<PvToolsResult> {
  const before = await agent(ctx, o.timeoutMs);
  const recorded = async (): Promise<{ installer?: PvToolsInstaller }> => {
    const installer = await installerRecord(ctx);
    return installer ? { installer } : {};
  };
  if (before.installed && before.running)
    return { alreadyInstalled: true, exitCode: null, rebooted: false, ...(await recorded()) };
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
    await launchDetached(
      ctx,
      pvToolsScript({ label: o.volumeLabel, windowsUpdateDrivers: o.windowsUpdateDrivers === true }),
    );
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
    if (result.code === 'none')
      throw new XenimageError(
        'PvToolsInstallerNotFound',
        `no CD of the guest holds a PV tools MSI (names matching ${MSI_NAME_PATTERN}: managementagent*x64.msi, XenTools-x64.msi, XenDrivers-x64.msi)`,
        { retryable: false },
      );
    const installer = await installerRecord(ctx);
    const product = installer ? PV_TOOLS_PRODUCT[installer.kind] : 'PV tools';
    const code = Number(result.code);
    const failure = classifyMsiExit(product, code, code === 0 ? [] : await logTail(ctx, PV_TOOLS_LOG));
    if (failure) throw failure;
    if (code === 3010 || code === 1641) await rebootAndWait(ctx, { timeoutMs: o.timeoutMs, issue: code === 3010 });
    const after = await agent(ctx, o.timeoutMs);
    if (!after.installed || !after.running)
      throw new XenimageError(
        'PvToolsNotRunning',
        `msiexec reported ${code} but the tools' agent service is ${after.installed ? 'not running' : 'missing'}`,
        { retryable: false },
      );
    return {
      alreadyInstalled: false,
      exitCode: code,
      rebooted: code === 3010 || code === 1641,
      ...(installer ? { installer } : {}),
    };
  }
  const after = await agent(ctx, o.timeoutMs);
  if (!after.running)
    throw new XenimageError('PvToolsNotRunning', "the tools' agent service does not run after the reboot", {
      retryable: false,
    });
  return { alreadyInstalled: true, exitCode: null, rebooted: true, ...(await recorded()) };
}
