// Sysprep, provably: pre-clean (old Panther logs, tag, cached answer files with passwords), launch detached with
// /quiet /quit, follow sysprep.exe, and judge by ImageState plus the tag file. A failure is classified from
// the Panther logs into a typed error that names its remedy; a run that never ends is killed and reported.
import { XenimageError } from '../../errors.js';
import { psQuote } from '../../winrm/powershell.js';
import { CLOUDBASE_INSTALL_DIR } from '../cloudbaseInit.js';
import { launchDetached, pollGuest } from './detached.js';
import { isTransient, openClient, runCmd, runScript, type GuestContext } from './session.js';

const SYSPREP = 'C:\\Windows\\System32\\Sysprep\\sysprep.exe';
const TAG = 'C:\\Windows\\System32\\Sysprep\\Sysprep_succeeded.tag';
const PANTHER = 'C:\\Windows\\System32\\Sysprep\\Panther';
const STATE_KEY = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State';
export const GENERALIZED = 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE';

export interface SysprepResult {
  imageState: string;
  tagFile: boolean;
  shutdownIssued: boolean;
  elapsedMs: number;
}

const PRECLEAN = [
  "$ErrorActionPreference = 'Stop'",
  `Remove-Item -Path '${PANTHER}\\*' -Force -ErrorAction SilentlyContinue`,
  `Remove-Item -Path '${TAG}' -Force -ErrorAction SilentlyContinue`,
  // Setup's cached answer files hold the administrator password.
  "Remove-Item -Path 'C:\\Windows\\Panther\\unattend.xml' -Force -ErrorAction SilentlyContinue",
  "Remove-Item -Path 'C:\\Windows\\Panther\\Unattend\\*.xml' -Force -ErrorAction SilentlyContinue",
  "if (Get-Process -Name 'sysprep' -ErrorAction SilentlyContinue) { throw 'sysprep.exe is already running' }",
].join('\r\n');

const PROBE = [
  "$running = (Get-Process -Name 'sysprep' -ErrorAction SilentlyContinue) -ne $null",
  `$state = Get-ItemPropertyValue -Path '${STATE_KEY}' -Name 'ImageState' -ErrorAction SilentlyContinue`,
  `$tag = Test-Path -Path '${TAG}'`,
  'Write-Output (ConvertTo-Json -Compress -InputObject @{ running = $running; imageState = [string]$state; tag = $tag })',
].join('\r\n');

interface Probe {
  running: boolean;
  imageState: string;
  tag: boolean;
}

export class SysprepFailure extends XenimageError {}

/** Classifies Panther log lines (docs/reference/windows.md §4.4 failure signatures). */
export function classifySysprepLogs(lines: string[], imageState: string): SysprepFailure {
  const text = lines.join('\n');
  const tail = lines.filter((l) => /Error/.test(l)).slice(-6);
  if (imageState === 'IMAGE_STATE_UNDEPLOYABLE') {
    return new SysprepFailure(
      'SysprepUndeployable',
      'sysprep left the image undeployable (IMAGE_STATE_UNDEPLOYABLE): revert to the pre-sysprep snapshot or rebuild; never retry on this disk',
      { retryable: false, details: { imageState, log: tail } },
    );
  }
  const pkg = /Package (\S+) was installed for a user, but not provisioned for all users/.exec(text)?.[1];
  if (pkg || /0x80073cf2/i.test(text)) {
    return new SysprepFailure(
      'SysprepAppxFailure',
      `sysprep failed (0x80073cf2): AppX package ${pkg ?? '(unnamed)'} is installed for a user but not provisioned for all users. Remedy: Remove-AppxPackage -Package ${pkg ?? '<package>'} -AllUsers, then revert to the snapshot and retry`,
      { retryable: false, details: { package: pkg ?? null, hresult: '0x80073cf2', log: tail } },
    );
  }
  if (/0x800F0975|0x80070975|reserved storage is in use/i.test(text)) {
    return new SysprepFailure(
      'SysprepReservedStorage',
      'sysprep failed (0x800F0975): reserved storage is in use by pending servicing. Remedy: let Windows Update finish and reboot until no reboot is pending, then retry',
      { retryable: false, details: { hresult: '0x800F0975', log: tail } },
    );
  }
  return new SysprepFailure(
    'SysprepUnknownFailure',
    `sysprep failed without a known signature (ImageState ${imageState}); last errors: ${tail.join(' | ') || 'none logged'}`,
    {
      retryable: false,
      details: { imageState, log: tail },
    },
  );
}

async function pantherLines(ctx: GuestContext): Promise<string[]> {
  const client = openClient(ctx);
  try {
    const r = await runScript(
      client,
      ctx,
      [
        `Get-Content -Path '${PANTHER}\\setuperr.log' -ErrorAction SilentlyContinue`,
        `Get-Content -Path '${PANTHER}\\setupact.log' -Tail 200 -ErrorAction SilentlyContinue`,
      ].join('\r\n'),
    );
    return r.stdoutText.split(/\r?\n/).filter(Boolean);
  } finally {
    client.close();
  }
}

export async function runSysprep(
  ctx: GuestContext,
  o: { unattendPath?: string; timeoutMs: number; shutdown: boolean },
): Promise<SysprepResult> {
  const started = Date.now();
  const unattend = o.unattendPath ?? `${CLOUDBASE_INSTALL_DIR}\\conf\\Unattend.xml`;
  if (/["\r\n]/.test(unattend))
    throw new XenimageError('InvalidInput', 'the unattend path cannot contain quotes or line breaks', {
      retryable: false,
    });
  const pre = openClient(ctx);
  try {
    const r = await runScript(pre, ctx, PRECLEAN);
    if (r.exitCode !== 0)
      throw new XenimageError(
        'SysprepPrecleanFailed',
        `preparing for sysprep failed: ${r.stderrText.trim().split(/\r?\n/)[0]}`,
        { retryable: true },
      );
  } finally {
    pre.close();
  }
  // The whole /unattend: value is quoted (paths with spaces break sysprep otherwise).
  await launchDetached(
    ctx,
    `& ${psQuote(SYSPREP)} /generalize /oobe /quiet /quit /mode:vm ${psQuote(`/unattend:"${unattend}"`)}`,
  );
  const { result, timedOut } = await pollGuest<Probe>(ctx, PROBE, (p) => !p.running, {
    timeoutMs: o.timeoutMs,
    what: 'sysprep',
  });
  if (timedOut) {
    const kill = openClient(ctx);
    try {
      await runCmd(kill, ctx, 'taskkill', ['/IM', 'sysprep.exe', '/F']);
    } finally {
      kill.close();
    }
    const lines = await pantherLines(ctx);
    throw new SysprepFailure(
      'SysprepHung',
      `sysprep.exe was still running after ${Math.round(o.timeoutMs / 1000)} s and was killed (a dialog in session 0, or a very slow run). Revert to the snapshot and retry`,
      {
        retryable: false,
        details: { log: lines.slice(-6) },
      },
    );
  }
  const p = result!;
  if (!(p.tag && p.imageState === GENERALIZED)) throw classifySysprepLogs(await pantherLines(ctx), p.imageState);
  const shutdownIssued = o.shutdown ? await issueShutdown(ctx) : false;
  return { imageState: p.imageState, tagFile: p.tag, shutdownIssued, elapsedMs: Date.now() - started };
}

/**
 * Shuts the generalized guest down from inside (`shutdown /s /t 5 /f`), so it never boots again before its disk is
 * exported. Returns whether the shutdown was issued.
 */
export async function issueShutdown(ctx: GuestContext): Promise<boolean> {
  const c = openClient(ctx);
  try {
    const r = await runCmd(c, ctx, 'shutdown', ['/s', '/t', '5', '/f']);
    return r.exitCode === 0;
  } catch (err) {
    // The guest may go down before the command's own cleanup: that is the shutdown happening.
    if (!isTransient(err)) throw err;
    return true;
  } finally {
    c.close();
  }
}
