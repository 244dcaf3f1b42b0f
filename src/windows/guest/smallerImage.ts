// Smaller images (docs/decisions/windows-0010-smaller-images.md): before the pre-sysprep snapshot the guest's temp
// folders, Windows Update's download cache (wuauserv stopped around it) and old CBS logs go, so their blocks need
// not ship. Sysprep's Panther logs stay: the build collects them for diagnosis.
import { psQuote } from '../../winrm/powershell.js';
import { runRemoval, type GuestContext } from './session.js';

/** Folders whose contents go (the connecting user's %TEMP% is added by the script). */
export const CACHE_FOLDERS = ['C:\\Windows\\Temp', 'C:\\Windows\\SoftwareDistribution\\Download'];
/** Component-based servicing's logs: old, large and of no use in an image. */
export const OLD_LOGS = { folder: 'C:\\Windows\\Logs\\CBS', filter: '*.log' };

export function clearCachesScript(): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    "$wu = Get-Service -Name 'wuauserv'",
    "$wasRunning = $wu.Status -eq 'Running'",
    "if ($wasRunning) { Stop-Service -Name 'wuauserv' -Force }",
    'try {',
    `  $folders = @(${CACHE_FOLDERS.map(psQuote).join(', ')})`,
    '  if ($env:TEMP -and ($folders -notcontains $env:TEMP)) { $folders += $env:TEMP }',
    `  $items = @()`,
    '  foreach ($d in $folders) {',
    '    if (Test-Path -Path $d) { $items += @(Get-ChildItem -Path $d -Force) }',
    '  }',
    `  if (Test-Path -Path ${psQuote(OLD_LOGS.folder)}) { $items += @(Get-ChildItem -Path ${psQuote(OLD_LOGS.folder)} -Filter ${psQuote(OLD_LOGS.filter)}) }`,
    '  foreach ($i in $items) {',
    // Files in use stay (Windows refuses to delete them); only what went is reported.
    '    Remove-Item -Path $i.FullName -Recurse -Force -ErrorAction SilentlyContinue',
    "    if (-not (Test-Path -Path $i.FullName)) { Write-Output ('removed ' + $i.FullName) }",
    '  }',
    '} finally {',
    "  if ($wasRunning) { Start-Service -Name 'wuauserv' }",
    '}',
  ].join('\r\n');
}

/** Clears the temp folders, Windows Update's download cache and old CBS logs; says what went. */
export function clearCaches(ctx: GuestContext): Promise<string[]> {
  return runRemoval(ctx, clearCachesScript(), 'clearing caches and logs');
}
