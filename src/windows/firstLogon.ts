// What runs at the first logon, from the answer CD: the PV tools, the token filter policy, the firewall rule,
// then WinRM (last, so "WinRM answers" means the configuration finished), then one reboot that activates the PV
// drivers. Scripts find the CD by its volume label, never by drive letter, and use only the PowerShell the
// engine relies on everywhere else.
import { psQuote } from '../winrm/powershell.js';
import type { FirstLogonCommand } from './autounattend.js';

export const SCRIPT_DIR = 'xenimage';
export const PV_TOOLS_MSI = 'managementagentx64.msi';
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

export function pvToolsScript(label: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    `$drive = (Get-Volume -FileSystemLabel ${psQuote(label)}).DriveLetter`,
    `$msi = $drive + ':\\${PV_TOOLS_MSI}'`,
    // Deterministic image: no driver updates from Windows Update or the tools' own updater.
    `$p = Start-Process -FilePath 'msiexec.exe' -ArgumentList @('/i', ('"' + $msi + '"'), '/quiet', '/norestart', '/l*v', '${PV_TOOLS_LOG}', 'ALLOWAUTOUPDATE=NO', 'ALLOWDRIVERUPDATE=NO') -Wait -PassThru`,
    "Set-Content -Path 'C:\\Windows\\Temp\\xenimage-pvtools.status' -Value $p.ExitCode",
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
}): FirstLogonPlan {
  const port = o.mode === 'https' ? 5986 : 5985;
  const scripts: Record<string, string> = {
    [`${SCRIPT_DIR}/enable-winrm.ps1`]: enableWinrmScript(o.label, o.mode, o.pfxPassword),
  };
  const commands: FirstLogonCommand[] = [];
  if (o.installPvTools) {
    scripts[`${SCRIPT_DIR}/install-pv-tools.ps1`] = pvToolsScript(o.label);
    commands.push({
      commandLine: runFromMedia(o.label, 'install-pv-tools.ps1'),
      description: 'Install the XenServer VM Tools (PV drivers and agent)',
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
