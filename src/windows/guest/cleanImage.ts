// A clean image (docs/decisions/windows-0007-clean-image.md): what the build added to the guest for itself does not
// ship. Two parts, because the build talks to the guest through some of it:
// - before the pre-sysprep snapshot, over WinRM and reported: Setup's cached answer files (they hold the
//   passwords), the first logon's leftovers and, unless the image keeps remote access, LocalAccountTokenFilterPolicy
//   (the build connects as the built-in Administrator, which the policy does not concern);
// - after sysprep and the log collection, as the guest's last command, detached: every WinRM listener, Basic auth,
//   AllowUnencrypted, the listener certificate and key, the build's firewall rules, then the shutdown. The script
//   shuts down only when every removal succeeded: otherwise the guest stays up and the build's wait for the halt
//   fails instead of publishing an image that keeps the build's access.
import { X509Certificate } from 'node:crypto';
import { psQuote } from '../../winrm/powershell.js';
import { winrmFirewallRule } from '../firstLogon.js';
import { launchDetached } from './detached.js';
import { runRemoval, type GuestContext } from './session.js';

/** How long the seal waits before it removes the access the launching WinRM shell still uses. */
export const SEAL_DELAY_SEC = 30;

/** What the image keeps for its operator: nothing, or WinRM over HTTPS with a listener made per instance. */
export type GuestRemoteAccess = 'none' | 'winrm-https';

/** Setup's cached answer files and the first logon's status file. */
export const BUILD_FILES = [
  'C:\\Windows\\Panther\\unattend.xml',
  'C:\\Windows\\Panther\\Autounattend.xml',
  'C:\\Windows\\Panther\\Unattend\\unattend.xml',
  'C:\\Windows\\Panther\\Unattend\\Autounattend.xml',
  'C:\\Windows\\Temp\\xenimage-pvtools.status',
];

const TOKEN_POLICY_KEY = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System';
const TOKEN_POLICY = 'LocalAccountTokenFilterPolicy';
const LISTENERS = 'winrm/config/Listener';
/** Windows' own rule for WinRM over HTTPS, made when the image keeps remote access. */
const HTTPS_RULE = { name: 'WINRM-HTTPS-In-TCP', displayName: 'Windows Remote Management (HTTPS-In)' };
/** Windows' built-in WinRM HTTP rules (Enable-PSRemoting enables them). */
const HTTP_RULES = 'WINRM-HTTP-In-TCP*';

export function removeBuildFilesScript(remoteAccess: GuestRemoteAccess): string {
  const lines = [
    "$ErrorActionPreference = 'Stop'",
    `foreach ($p in @(${BUILD_FILES.map(psQuote).join(', ')})) {`,
    "  if (Test-Path -Path $p) { Remove-Item -Path $p -Force; Write-Output ('removed ' + $p) }",
    '}',
  ];
  // Remote administration with a local account other than the built-in Administrator needs the policy.
  if (remoteAccess === 'none')
    lines.push(
      `$v = Get-ItemProperty -Path ${psQuote(TOKEN_POLICY_KEY)} -Name ${psQuote(TOKEN_POLICY)} -ErrorAction SilentlyContinue`,
      `if ($v -ne $null) { Remove-ItemProperty -Path ${psQuote(TOKEN_POLICY_KEY)} -Name ${psQuote(TOKEN_POLICY)}; Write-Output 'removed ${TOKEN_POLICY}' }`,
    );
  return lines.join('\r\n');
}

/** The detached script that removes the build's access and then shuts the guest down. */
export function sealScript(o: { remoteAccess: GuestRemoteAccess; thumbprint: string | null }): string {
  const cert = o.thumbprint ? psQuote(`Cert:\\LocalMachine\\My\\${o.thumbprint}`) : undefined;
  const rules = [winrmFirewallRule('https'), winrmFirewallRule('http')].map(psQuote).join(', ');
  const body = [
    `foreach ($l in @(Get-WSManInstance -ResourceURI '${LISTENERS}' -Enumerate)) {`,
    `  Remove-WSManInstance -ResourceURI '${LISTENERS}' -SelectorSet @{ Address = $l.Address; Transport = $l.Transport }`,
    '}',
    "Set-Item -Path 'WSMan:\\localhost\\Service\\Auth\\Basic' -Value $false",
    "Set-Item -Path 'WSMan:\\localhost\\Service\\AllowUnencrypted' -Value $false",
    ...(cert ? [`if (Test-Path -Path ${cert}) { Remove-Item -Path ${cert} }`] : []),
    `foreach ($r in @(${rules})) {`,
    '  if (Get-NetFirewallRule -DisplayName $r -ErrorAction SilentlyContinue) { Remove-NetFirewallRule -DisplayName $r }',
    '}',
  ];
  if (o.remoteAccess === 'none')
    body.push(
      `if (Get-NetFirewallRule -Name '${HTTP_RULES}' -ErrorAction SilentlyContinue) { Disable-NetFirewallRule -Name '${HTTP_RULES}' }`,
      "Set-Service -Name 'WinRM' -StartupType Manual",
    );
  else
    body.push(
      `if (-not (Get-NetFirewallRule -Name '${HTTPS_RULE.name}' -ErrorAction SilentlyContinue)) {`,
      `  New-NetFirewallRule -Name '${HTTPS_RULE.name}' -DisplayName '${HTTPS_RULE.displayName}' -Direction Inbound -Protocol TCP -LocalPort 5986 -Action Allow | Out-Null`,
      '}',
      "Set-Service -Name 'WinRM' -StartupType Automatic",
    );
  return [
    "$ErrorActionPreference = 'Stop'",
    // The WinRM shell that launched this script has answered and closed long before its listener goes.
    `Start-Sleep -Seconds ${SEAL_DELAY_SEC}`,
    'try {',
    ...body.map((l) => `  ${l}`),
    '} catch {',
    '  exit 1',
    '}',
    'shutdown.exe /s /t 5 /f',
  ].join('\r\n');
}

/** The SHA-1 thumbprint Windows shows for the listener certificate the build pinned. */
export function certificateThumbprint(pem: string): string {
  return new X509Certificate(pem).fingerprint.replace(/:/g, '').toUpperCase();
}

/** Removes the build's files and (for an image without remote access) the token filter policy; says what went. */
export function removeBuildFiles(ctx: GuestContext, remoteAccess: GuestRemoteAccess): Promise<string[]> {
  return runRemoval(ctx, removeBuildFilesScript(remoteAccess), 'removing the build files');
}

/**
 * The guest's last command: the build's access goes and the guest shuts down. Returns the detached process id; the
 * workflow then waits for the halt through XAPI (no WinRM answers afterwards).
 */
export async function sealAndShutDown(
  ctx: GuestContext,
  o: { remoteAccess: GuestRemoteAccess; certificatePem?: string },
): Promise<{ pid: number; thumbprint: string | null }> {
  const thumbprint = o.certificatePem ? certificateThumbprint(o.certificatePem) : null;
  const pid = await launchDetached(ctx, sealScript({ remoteAccess: o.remoteAccess, thumbprint }));
  return { pid, thumbprint };
}
