// What runs at the first logon, from the answer CD: the PV tools, the token filter policy, the firewall rule,
// then WinRM (last, so "WinRM answers" means the configuration finished), then one reboot that activates the PV
// drivers. Scripts find the CD by its volume label, never by drive letter, and use only the PowerShell the
// engine relies on everywhere else.
import { psQuote } from '../winrm/powershell.js';
import type { FirstLogonCommand } from './autounattend.js';
import { MSI_NAME_PATTERN, pvToolsMsiProperties, type PvToolsKind } from './pvToolsPackage.js';

export const SCRIPT_DIR = 'xenimage';
export const CLOUDBASE_INIT_MSI = 'CloudbaseInitSetup_Stable_x64.msi';
export const LISTENER_PFX = `${SCRIPT_DIR}\\winrm-listener.pfx`;
export const PV_TOOLS_LOG = 'C:\\Windows\\Temp\\xstools.log';

export type WinrmMode = 'https' | 'http';

/** The firewall rule the first logon adds for WinRM (the clean image removes it by this name). */
export function winrmFirewallRule(mode: WinrmMode): string {
  return `xenimage WinRM ${mode.toUpperCase()}`;
}

/** A command line that runs `script` from the CD labelled `label`. */
function runFromMedia(label: string, script: string): string {
  return `powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "& ((Get-Volume -FileSystemLabel '${label}').DriveLetter + ':\\${SCRIPT_DIR}\\${script}')"`;
}

/** What the tools script ran (msi, kind, properties), for the build's result. */
export const PV_TOOLS_RECORD = 'C:\\Windows\\Temp\\xenimage-pvtools.json';
export const PV_TOOLS_STATUS = 'C:\\Windows\\Temp\\xenimage-pvtools.status';

/**
 * Installs the PV tools from the answer CD (labelled `label`) or, when it holds none, from another CD (the pool's
 * tools ISO): the first MSI whose name says which tools it is, with that kind's properties (pvToolsPackage.ts).
 * Writes what it ran, then msiexec's exit code, or `none` when no CD holds the tools.
 */
export function pvToolsScript(o: { label: string; windowsUpdateDrivers: boolean }): string {
  const props = (kind: PvToolsKind) =>
    `@(${pvToolsMsiProperties(kind, { windowsUpdateDrivers: o.windowsUpdateDrivers })
      .map((p) => psQuote(p))
      .join(', ')})`;
  return [
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    // The answer CD first, then the others, by letter: never a fixed drive letter.
    '$drives = @()',
    `foreach ($v in @(Get-Volume)) { if ($v.DriveLetter) { if ($v.FileSystemLabel -eq ${psQuote(o.label)}) { $drives = @($v.DriveLetter) + $drives } else { $drives += $v.DriveLetter } } }`,
    '$msi = $null',
    `foreach ($d in $drives) { foreach ($n in @(cmd.exe /c ('dir /b ' + $d + ':\\'))) { if ($msi -eq $null -and $n -match ${psQuote(MSI_NAME_PATTERN)}) { $msi = $d + ':\\' + $n } } }`,
    `if ($msi -eq $null) { Set-Content -Path '${PV_TOOLS_STATUS}' -Value 'none'; exit 2 }`,
    `if ($msi -match 'managementagent') { $kind = 'xenserver'; $props = ${props('xenserver')} } else { $kind = 'xcp-ng'; $props = ${props('xcp-ng')} }`,
    `Set-Content -Path '${PV_TOOLS_RECORD}' -Value (ConvertTo-Json -Compress -InputObject @{ msi = $msi; kind = $kind; properties = ($props -join ' ') })`,
    `$p = Start-Process -FilePath 'msiexec.exe' -ArgumentList (@('/i', ('"' + $msi + '"'), '/quiet', '/norestart', '/l*v', '${PV_TOOLS_LOG}') + $props) -Wait -PassThru`,
    `Set-Content -Path '${PV_TOOLS_STATUS}' -Value $p.ExitCode`,
    'if ($p.ExitCode -ne 0 -and $p.ExitCode -ne 3010 -and $p.ExitCode -ne 1641) { exit $p.ExitCode }',
    'exit 0',
  ].join('\r\n');
}

export function enableWinrmScript(label: string, mode: WinrmMode, pfxPassword: string | null): string {
  const lines = [
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    'Set-NetConnectionProfile -NetworkCategory Private',
    'Enable-PSRemoting -SkipNetworkProfileCheck -Force',
  ];
  if (mode === 'https') {
    if (!pfxPassword) throw new Error('HTTPS WinRM needs the listener certificate');
    lines.push(
      `$drive = (Get-Volume -FileSystemLabel ${psQuote(label)}).DriveLetter`,
      `$pfxPassword = ConvertTo-SecureString -String ${psQuote(pfxPassword)} -AsPlainText -Force`,
      `$cert = Import-PfxCertificate -FilePath ($drive + ':\\${LISTENER_PFX}') -CertStoreLocation 'Cert:\\LocalMachine\\My' -Password $pfxPassword`,
      "New-Item -Path 'WSMan:\\localhost\\Listener' -Transport HTTPS -Address * -CertificateThumbprint $cert.Thumbprint -Force | Out-Null",
      "Set-Item -Path 'WSMan:\\localhost\\Service\\Auth\\Basic' -Value $true",
      "Set-Item -Path 'WSMan:\\localhost\\Service\\AllowUnencrypted' -Value $false",
    );
  } else {
    // Only on an isolated build network: Basic over plain HTTP.
    lines.push(
      "Set-Item -Path 'WSMan:\\localhost\\Service\\Auth\\Basic' -Value $true",
      "Set-Item -Path 'WSMan:\\localhost\\Service\\AllowUnencrypted' -Value $true",
    );
  }
  lines.push(
    "Set-Item -Path 'WSMan:\\localhost\\MaxTimeoutms' -Value 1800000",
    "Set-Service -Name 'WinRM' -StartupType Automatic",
    "Restart-Service -Name 'WinRM'",
  );
  return lines.join('\r\n');
}

export interface FirstLogonPlan {
  commands: FirstLogonCommand[];
  /** Files for the answer media, relative to its root. */
  scripts: Record<string, string>;
}

export function firstLogonPlan(o: {
  label: string;
  mode: WinrmMode;
  pfxPassword: string | null;
  installPvTools: boolean;
  /** XenServer VM Tools: driver updates through Windows Update (ALLOWDRIVERUPDATE=YES). */
  windowsUpdateDrivers?: boolean;
}): FirstLogonPlan {
  const port = o.mode === 'https' ? 5986 : 5985;
  const scripts: Record<string, string> = {
    [`${SCRIPT_DIR}/enable-winrm.ps1`]: enableWinrmScript(o.label, o.mode, o.pfxPassword),
  };
  const commands: FirstLogonCommand[] = [];
  if (o.installPvTools) {
    scripts[`${SCRIPT_DIR}/install-pv-tools.ps1`] = pvToolsScript({
      label: o.label,
      windowsUpdateDrivers: o.windowsUpdateDrivers === true,
    });
    commands.push({
      commandLine: runFromMedia(o.label, 'install-pv-tools.ps1'),
      description: 'Install the PV tools (drivers and agent)',
    });
  }
  commands.push(
    {
      commandLine:
        'reg add "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System" /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f',
      description: 'Let local administrators use WinRM (LocalAccountTokenFilterPolicy)',
    },
    {
      commandLine: `netsh advfirewall firewall add rule name="${winrmFirewallRule(o.mode)}" dir=in action=allow protocol=TCP localport=${port}`,
      description: `Open the firewall for WinRM ${o.mode.toUpperCase()} (${port})`,
    },
    {
      commandLine: runFromMedia(o.label, 'enable-winrm.ps1'),
      description: `Enable WinRM over ${o.mode.toUpperCase()} (last configuration step)`,
    },
  );
  if (o.installPvTools)
    commands.push({
      commandLine: 'shutdown /r /t 10 /c "xenimage: activate PV drivers"',
      description: 'Reboot once so the PV drivers bind',
    });
  return { commands, scripts };
}
