// The scripts the Windows Update rounds run as SYSTEM (docs/decisions/windows-0009-windows-update.md): one round of
// search → download → install through the Windows Update Agent API (Microsoft.Update.Session), and the component
// store clean-up after the last round. Each writes one JSON result; nothing else reports back.
import { psQuote } from '../../winrm/powershell.js';
import { resultPath } from './updatesTask.js';

/** Software updates not installed and not hidden: what Windows Update itself offers. */
export const SEARCH_CRITERIA = "IsInstalled=0 and Type='Software' and IsHidden=0";

/** IUpdateInstaller result codes (OperationResultCode): 2 succeeded, 3 succeeded with errors. */
export const ORC_SUCCEEDED = 2;
export const ORC_SUCCEEDED_WITH_ERRORS = 3;

const list = (items: readonly string[]): string => `@(${items.map(psQuote).join(', ')})`;

export interface RoundScriptOptions {
  round: number;
  exclude: readonly string[];
  categories?: readonly string[];
}

/** What the round script writes (and what a crashed round's `error` says). */
export interface RoundFile {
  round: number;
  offered: Array<{ kb: string; title: string }>;
  installed: Array<{ kb: string; title: string }>;
  failed: Array<{ kb: string; title: string; resultCode: number; hresult: number }>;
  skipped: Array<{ kb: string; title: string; reason: 'excluded' | 'category' }>;
  rebootRequired: boolean;
  error: string | null;
}

export function roundScript(o: RoundScriptOptions, name: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$exclude = ${list(o.exclude)}`,
    `$categories = ${list(o.categories ?? [])}`,
    '$offered = @(); $installed = @(); $failed = @(); $skipped = @(); $reboot = $false; $err = $null',
    'try {',
    '  $session = New-Object -ComObject Microsoft.Update.Session',
    "  $session.ClientApplicationID = 'xenimage'",
    '  $searcher = $session.CreateUpdateSearcher()',
    `  $search = $searcher.Search(${psQuote(SEARCH_CRITERIA)})`,
    '  $todo = New-Object -ComObject Microsoft.Update.UpdateColl',
    '  $picked = @()',
    '  for ($i = 0; $i -lt $search.Updates.Count; $i++) {',
    '    $u = $search.Updates.Item($i)',
    "    $kb = ''",
    "    if ($u.KBArticleIDs.Count -gt 0) { $kb = 'KB' + $u.KBArticleIDs.Item(0) }",
    '    $entry = @{ kb = $kb; title = $u.Title }',
    '    $offered += $entry',
    "    if ($exclude -contains $kb) { $skipped += @{ kb = $kb; title = $u.Title; reason = 'excluded' }; continue }",
    '    if ($categories.Count -gt 0) {',
    '      $match = $false',
    '      for ($j = 0; $j -lt $u.Categories.Count; $j++) { if ($categories -contains $u.Categories.Item($j).Name) { $match = $true } }',
    "      if (-not $match) { $skipped += @{ kb = $kb; title = $u.Title; reason = 'category' }; continue }",
    '    }',
    '    if (-not $u.EulaAccepted) { $u.AcceptEula() }',
    '    [void]$todo.Add($u)',
    '    $picked += $entry',
    '  }',
    '  if ($todo.Count -gt 0) {',
    '    $downloader = $session.CreateUpdateDownloader()',
    '    $downloader.Updates = $todo',
    '    [void]$downloader.Download()',
    '    $installer = $session.CreateUpdateInstaller()',
    '    $installer.Updates = $todo',
    '    $r = $installer.Install()',
    '    $reboot = [bool]$r.RebootRequired',
    '    for ($i = 0; $i -lt $todo.Count; $i++) {',
    '      $ur = $r.GetUpdateResult($i)',
    `      if ($ur.ResultCode -eq ${ORC_SUCCEEDED} -or $ur.ResultCode -eq ${ORC_SUCCEEDED_WITH_ERRORS}) { $installed += $picked[$i] }`,
    '      else { $failed += @{ kb = $picked[$i].kb; title = $picked[$i].title; resultCode = $ur.ResultCode; hresult = $ur.HResult } }',
    '    }',
    '  }',
    '} catch {',
    '  $err = $_.Exception.Message',
    '}',
    `$result = @{ round = ${o.round}; offered = $offered; installed = $installed; failed = $failed; skipped = $skipped; rebootRequired = $reboot; error = $err }`,
    `Set-Content -Path ${psQuote(resultPath(name))} -Value (ConvertTo-Json -InputObject $result -Compress -Depth 4) -Encoding UTF8`,
  ].join('\r\n');
}

export interface CleanupFile {
  exitCode: number;
  resetBase: boolean;
}

export function componentCleanupScript(o: { resetBase: boolean }, name: string): string {
  const args = ['/Online', '/Cleanup-Image', '/StartComponentCleanup', ...(o.resetBase ? ['/ResetBase'] : [])];
  return [
    "$ErrorActionPreference = 'Stop'",
    `dism.exe ${args.join(' ')} | Out-Null`,
    `$result = @{ exitCode = $LASTEXITCODE; resetBase = $${o.resetBase ? 'true' : 'false'} }`,
    `Set-Content -Path ${psQuote(resultPath(name))} -Value (ConvertTo-Json -InputObject $result -Compress) -Encoding UTF8`,
  ].join('\r\n');
}
