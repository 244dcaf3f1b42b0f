// Checks before the first sysprep attempt (issue 13, item 3): the states behind the most common sysprep failures
// (docs/reference/windows.md §4.4), found before sysprep runs. With `fix`: updates still installing are waited
// for, a pending reboot is done, AppX packages installed for a user but not provisioned are removed, BitLocker on
// the system volume is turned off (decryption waited for); the reserved storage state is reported. With `report`
// nothing changes. Each check's outcome goes into the progress and the result; sysprep's own remedies
// (remedies.ts) stay for whatever slips through.
import type { PreSysprepCheckRecord } from '../../contracts/messages.js';
import { psQuote } from '../../winrm/powershell.js';
import { pollGuest } from './detached.js';
import { rebootAndWait } from './reboot.js';
import { runGuestScript, type GuestContext } from './session.js';

export type PreSysprepMode = 'fix' | 'report';
/** One check's outcome (the shape the build's progress and result carry). */
export type CheckOutcome = PreSysprepCheckRecord;

interface Facts {
  appx: string[];
  reboot: string[];
  updatesInstalling: boolean;
  bitlocker: string | null;
  reservedStorage: string | null;
}

const CBS = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending';
const WU = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired';
const SESSION_MANAGER = 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager';

/** One line per fact: `appx <full name>`, `reboot <why>`, `updates installing`, `bitlocker <status>`, `reserved <state>`. */
export const PROBE = [
  "$ErrorActionPreference = 'Stop'",
  '$provisioned = @(@(Get-AppxProvisionedPackage -Online).PackageName)',
  'foreach ($p in @(Get-AppxPackage -AllUsers)) {',
  "  if (($provisioned -notcontains $p.PackageFullName) -and (-not $p.IsFramework) -and (-not $p.NonRemovable) -and ($p.SignatureKind -ne 'System')) { Write-Output ('appx ' + $p.PackageFullName) }",
  '}',
  `if (Test-Path -Path ${psQuote(CBS)}) { Write-Output 'reboot component servicing' }`,
  `if (Test-Path -Path ${psQuote(WU)}) { Write-Output 'reboot Windows Update' }`,
  `$renames = Get-ItemProperty -Path ${psQuote(SESSION_MANAGER)} -Name 'PendingFileRenameOperations' -ErrorAction SilentlyContinue`,
  "if ($renames -ne $null) { Write-Output 'reboot pending file renames' }",
  "if (Get-Process -Name 'TiWorker' -ErrorAction SilentlyContinue) { Write-Output 'updates installing' }",
  "$volume = Get-BitLockerVolume -MountPoint 'C:' -ErrorAction SilentlyContinue",
  "if ($volume -ne $null) { Write-Output ('bitlocker ' + $volume.VolumeStatus) }",
  '$reserved = Get-WindowsReservedStorageState -ErrorAction SilentlyContinue',
  "if ($reserved -ne $null) { Write-Output ('reserved ' + $reserved.ReservedStorageState) }",
].join('\r\n');

export function parseFacts(stdout: string): Facts {
  const facts: Facts = { appx: [], reboot: [], updatesInstalling: false, bitlocker: null, reservedStorage: null };
  for (const line of stdout.split(/\r?\n/).map((l) => l.trim())) {
    const [word, ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (word === 'appx' && value) facts.appx.push(value);
    else if (word === 'reboot' && value) facts.reboot.push(value);
    else if (line === 'updates installing') facts.updatesInstalling = true;
    else if (word === 'bitlocker' && value) facts.bitlocker = value;
    else if (word === 'reserved' && value) facts.reservedStorage = value;
  }
  return facts;
}

const probe = async (ctx: GuestContext): Promise<Facts> =>
  parseFacts((await runGuestScript(ctx, PROBE, 'the pre-sysprep checks')).stdoutText);

/** Runs the checks (and with `fix` their remedies), in the order in which one remedy clears the way for the next. */
export async function preSysprepChecks(
  ctx: GuestContext,
  o: { mode: PreSysprepMode; timeoutMs: number },
): Promise<CheckOutcome[]> {
  const report = (c: CheckOutcome) => ctx.progress?.({ phase: 'pre-sysprep checks', ...c });
  const outcomes: CheckOutcome[] = [];
  const done = (c: CheckOutcome) => {
    outcomes.push(c);
    report(c);
  };
  const fix = o.mode === 'fix';
  let facts = await probe(ctx);

  // An update still installing finishes first: it may leave a reboot pending.
  if (!facts.updatesInstalling) done({ check: 'updates-installing', outcome: 'clear', detail: 'no update installing' });
  else if (!fix) done({ check: 'updates-installing', outcome: 'found', detail: 'an update is installing (TiWorker)' });
  else {
    const waited = await pollGuest<{ busy: boolean }>(
      ctx,
      [
        '$busy = $false',
        "if (Get-Process -Name 'TiWorker' -ErrorAction SilentlyContinue) { $busy = $true }",
        'Write-Output (ConvertTo-Json -Compress -InputObject @{ busy = $busy })',
      ].join('\r\n'),
      (r) => !r.busy,
      { timeoutMs: o.timeoutMs, what: 'updates installing' },
    );
    done({
      check: 'updates-installing',
      outcome: waited.timedOut ? 'found' : 'fixed',
      detail: waited.timedOut
        ? `an update was still installing after ${Math.round(o.timeoutMs / 1000)} s`
        : 'waited until the installing update finished',
    });
    facts = await probe(ctx);
  }

  if (facts.reboot.length === 0) done({ check: 'pending-reboot', outcome: 'clear', detail: 'no reboot pending' });
  else if (!fix) done({ check: 'pending-reboot', outcome: 'found', detail: `pending: ${facts.reboot.join(', ')}` });
  else {
    await rebootAndWait(ctx, { timeoutMs: o.timeoutMs, issue: true });
    const before = facts.reboot;
    facts = await probe(ctx);
    done({
      check: 'pending-reboot',
      outcome: facts.reboot.length === 0 ? 'fixed' : 'found',
      detail:
        facts.reboot.length === 0
          ? `rebooted (${before.join(', ')})`
          : `still pending after a reboot: ${facts.reboot.join(', ')}`,
    });
  }

  if (facts.appx.length === 0) done({ check: 'appx', outcome: 'clear', detail: 'every user package is provisioned' });
  else if (!fix)
    done({
      check: 'appx',
      outcome: 'found',
      detail: `installed for a user, not provisioned: ${facts.appx.join(', ')}`,
    });
  else {
    const removed = facts.appx;
    await runGuestScript(
      ctx,
      [
        "$ErrorActionPreference = 'Stop'",
        ...removed.map((p) => `Remove-AppxPackage -Package ${psQuote(p)} -AllUsers`),
      ].join('\r\n'),
      'removing AppX packages',
    );
    facts = await probe(ctx);
    done({
      check: 'appx',
      outcome: facts.appx.length === 0 ? 'fixed' : 'found',
      detail: facts.appx.length === 0 ? `removed ${removed.join(', ')}` : `still there: ${facts.appx.join(', ')}`,
    });
  }

  const encrypted = facts.bitlocker !== null && facts.bitlocker !== 'FullyDecrypted';
  if (!encrypted) done({ check: 'bitlocker', outcome: 'clear', detail: `C: ${facts.bitlocker ?? 'has no BitLocker'}` });
  else if (!fix) done({ check: 'bitlocker', outcome: 'found', detail: `C: is ${facts.bitlocker}` });
  else {
    await runGuestScript(
      ctx,
      "$ErrorActionPreference = 'Stop'\r\nDisable-BitLocker -MountPoint 'C:' | Out-Null",
      'turning BitLocker off',
    );
    const decrypted = await pollGuest<{ status: string }>(
      ctx,
      [
        "$volume = Get-BitLockerVolume -MountPoint 'C:'",
        "$status = '' + $volume.VolumeStatus",
        'Write-Output (ConvertTo-Json -Compress -InputObject @{ status = $status })',
      ].join('\r\n'),
      (r) => r.status === 'FullyDecrypted',
      { timeoutMs: o.timeoutMs, what: 'BitLocker decryption' },
    );
    done({
      check: 'bitlocker',
      outcome: decrypted.timedOut ? 'found' : 'fixed',
      detail: decrypted.timedOut
        ? `C: still ${decrypted.result?.status ?? facts.bitlocker} after ${Math.round(o.timeoutMs / 1000)} s`
        : `turned off and decrypted C: (was ${facts.bitlocker})`,
    });
  }

  // Reported only: Windows manages reserved storage itself; in use it means servicing is pending (checked above).
  done({
    check: 'reserved-storage',
    outcome: 'clear',
    detail: `reserved storage ${facts.reservedStorage ?? 'state unknown'}`,
  });
  return outcomes;
}
