// cloudbase-init in the guest: silent MSI from the answer CD with explicit properties (detached, status file),
// xenimage's configuration files written over stdin, then SetSetupComplete.cmd — which a /qn install never
// runs — and proof: service registered, start type demand until SetupComplete, configuration in place.
import { XenimageError } from '../../errors.js';
import { psQuote } from '../../winrm/powershell.js';
import {
  CLOUDBASE_INSTALL_DIR,
  DEFAULT_METADATA_SERVICES,
  cloudbaseInitConf,
  cloudbaseInitMsiProperties,
  cloudbaseInitUnattendConf,
  type CloudbaseInitOptions,
} from '../cloudbaseInit.js';
import { CLOUDBASE_INIT_MSI } from '../firstLogon.js';
import { launchDetached, pollGuest } from './detached.js';
import { classifyMsiExit } from './pvTools.js';
import { lastJson, openClient, runCmd, runScript, type GuestContext } from './session.js';

const STATUS = 'C:\\Windows\\Temp\\xenimage-cbinit.status';
const LOG = 'C:\\Windows\\Temp\\cbinit.log';

export interface CloudbaseInitInstall {
  volumeLabel: string;
  username: string;
  injectUserPassword: boolean;
  serialPort?: string;
  runAsLocalSystem: boolean;
  timeoutMs: number;
}

export interface CloudbaseInitResult {
  alreadyInstalled: boolean;
  exitCode: number | null;
  startType: string;
}

function installScript(o: CloudbaseInitInstall, props: string[]): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    `$drive = (Get-Volume -FileSystemLabel ${psQuote(o.volumeLabel)}).DriveLetter`,
    `$msi = $drive + ':\\${CLOUDBASE_INIT_MSI}'`,
    `$p = Start-Process -FilePath 'msiexec.exe' -ArgumentList @('/i', ('"' + $msi + '"'), '/qn', '/l*v', '${LOG}', ${props.map(psQuote).join(', ')}) -Wait -PassThru`,
    `Set-Content -Path '${STATUS}' -Value $p.ExitCode`,
  ].join('\r\n');
}

const PROBE_STATUS = [
  `if (Test-Path -Path '${STATUS}') { $c = (Get-Content -Path '${STATUS}' -Raw).Trim() } else { $c = '' }`,
  "Write-Output (ConvertTo-Json -Compress -InputObject @{ done = ($c -ne ''); code = $c })",
].join('\r\n');

const PROBE_SERVICE = [
  "$s = Get-Service -Name 'cloudbase-init' -ErrorAction SilentlyContinue",
  `$conf = Test-Path -Path '${CLOUDBASE_INSTALL_DIR}\\conf\\cloudbase-init.conf'`,
  "$complete = Test-Path -Path 'C:\\Windows\\Setup\\Scripts\\SetupComplete.cmd'",
  'Write-Output (ConvertTo-Json -Compress -InputObject @{ installed = ($s -ne $null); startType = [string]$s.StartType; conf = $conf; setupComplete = $complete })',
].join('\r\n');

interface ServiceProbe {
  installed: boolean;
  startType: string;
  conf: boolean;
  setupComplete: boolean;
}

async function probe(ctx: GuestContext): Promise<ServiceProbe> {
  const client = openClient(ctx);
  try {
    const r = await runScript(client, ctx, PROBE_SERVICE);
    if (r.exitCode !== 0)
      throw new XenimageError(
        'GuestCommandFailed',
        `probing cloudbase-init failed: ${r.stderrText.split(/\r?\n/)[0]}`,
        { retryable: true },
      );
    return lastJson<ServiceProbe>(r, 'cloudbase-init probe');
  } finally {
    client.close();
  }
}

export async function installCloudbaseInit(ctx: GuestContext, o: CloudbaseInitInstall): Promise<CloudbaseInitResult> {
  const conf: CloudbaseInitOptions = {
    username: o.username,
    groups: ['Administrators'],
    injectUserPassword: o.injectUserPassword,
    serialPort: o.serialPort,
    metadataServices: DEFAULT_METADATA_SERVICES,
  };
  const before = await probe(ctx);
  let exitCode: number | null = null;
  if (!before.installed) {
    const client = openClient(ctx);
    try {
      await runScript(client, ctx, `Remove-Item -Path '${STATUS}' -Force -ErrorAction SilentlyContinue`);
    } finally {
      client.close();
    }
    await launchDetached(
      ctx,
      installScript(o, cloudbaseInitMsiProperties({ ...conf, runAsLocalSystem: o.runAsLocalSystem })),
    );
    const { result, timedOut } = await pollGuest<{ done: boolean; code: string }>(ctx, PROBE_STATUS, (r) => r.done, {
      timeoutMs: o.timeoutMs,
      what: 'cloudbase-init install',
    });
    if (timedOut || !result)
      throw new XenimageError(
        'CloudbaseInitInstallTimeout',
        `the cloudbase-init install did not finish within ${Math.round(o.timeoutMs / 1000)} s`,
        { retryable: false },
      );
    exitCode = Number(result.code);
    let tail: string[] = [];
    if (exitCode !== 0) {
      const c = openClient(ctx);
      try {
        tail = (
          await runScript(c, ctx, `Get-Content -Path '${LOG}' -Tail 30 -ErrorAction SilentlyContinue`)
        ).stdoutText.split(/\r?\n/);
      } finally {
        c.close();
      }
    }
    const failure = classifyMsiExit('cloudbase-init', exitCode, tail);
    if (failure) throw failure;
  }
  // Our configuration, over stdin (no size limit, no quoting).
  for (const [file, text] of [
    ['cloudbase-init.conf', cloudbaseInitConf(conf)],
    ['cloudbase-init-unattend.conf', cloudbaseInitUnattendConf(conf)],
  ] as const) {
    const client = openClient(ctx);
    try {
      const path = `${CLOUDBASE_INSTALL_DIR}\\conf\\${file}`;
      const r = await runScript(
        client,
        ctx,
        `$ErrorActionPreference = 'Stop'\r\n$text = [Console]::In.ReadToEnd()\r\nSet-Content -Path ${psQuote(path)} -Value $text -NoNewline`,
        { stdin: text },
      );
      if (r.exitCode !== 0)
        throw new XenimageError('GuestCommandFailed', `writing ${file} failed: ${r.stderrText.split(/\r?\n/)[0]}`, {
          retryable: false,
        });
    } finally {
      client.close();
    }
  }
  const client = openClient(ctx);
  try {
    const r = await runCmd(client, ctx, `"${CLOUDBASE_INSTALL_DIR}\\bin\\SetSetupComplete.cmd"`);
    if (r.exitCode !== 0)
      throw new XenimageError(
        'GuestCommandFailed',
        `SetSetupComplete.cmd exited ${r.exitCode}: ${(r.stderrText || r.stdoutText).trim().split(/\r?\n/)[0]}`,
        { retryable: false },
      );
  } finally {
    client.close();
  }
  const after = await probe(ctx);
  if (!after.installed || !after.conf || !after.setupComplete || after.startType !== 'Manual') {
    throw new XenimageError(
      'CloudbaseInitNotReady',
      `cloudbase-init is not ready for sysprep (service ${after.installed ? after.startType : 'missing'}, conf ${after.conf}, SetupComplete.cmd ${after.setupComplete})`,
      { retryable: false },
    );
  }
  return { alreadyInstalled: before.installed, exitCode, startType: after.startType };
}
