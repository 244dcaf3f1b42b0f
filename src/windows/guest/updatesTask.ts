// Work that must run as SYSTEM in the guest (the Windows Update Agent refuses a remote logon: Download and Install
// fail with 0x80070005 from WinRM, and from a process WinRM started): a script file run by a scheduled task whose
// principal is SYSTEM, leaving its result in a JSON file the build polls for
// (docs/decisions/windows-0009-windows-update.md). A task already running is awaited, a result already written is
// reused: an activity retry never starts the same work twice.
import { psQuote } from '../../winrm/powershell.js';
import { XenimageError } from '../../errors.js';
import { isTransient, lastJson, runGuestScript, sleep, type GuestContext } from './session.js';

/** The build's folder in the guest for these scripts and their results (componentCleanup removes it). */
export const UPDATES_DIR = 'C:\\ProgramData\\xenimage\\updates';

/** Where Windows records that an installed update waits for a restart (set by the agent, cleared by the reboot). */
export const REBOOT_REQUIRED_KEY =
  'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired';

export interface SystemTask {
  /** Task name and file stem: `xenimage-<name>`, `<name>.ps1`, `<name>.json`. */
  name: string;
  /** The script; it writes its JSON result to resultPath(name). */
  script: string;
}

export const taskName = (name: string): string => `xenimage-${name}`;
export const scriptPath = (name: string): string => `${UPDATES_DIR}\\${name}.ps1`;
export const resultPath = (name: string): string => `${UPDATES_DIR}\\${name}.json`;

/** What one look at the task says: its scheduler state, its result file's text, whether a restart is pending. */
export interface TaskProbe {
  task: string;
  result: string | null;
  rebootPending: boolean;
}

export function probeScript(name: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$t = Get-ScheduledTask -TaskName ${psQuote(taskName(name))} -ErrorAction SilentlyContinue`,
    "$state = 'Absent'",
    'if ($t -ne $null) { $state = [string]$t.State }',
    '$text = $null',
    `if (Test-Path -Path ${psQuote(resultPath(name))}) { $text = Get-Content -Path ${psQuote(resultPath(name))} -Raw }`,
    `$pending = Test-Path -Path ${psQuote(REBOOT_REQUIRED_KEY)}`,
    'Write-Output (ConvertTo-Json -Compress -InputObject @{ task = $state; result = $text; rebootPending = $pending })',
  ].join('\r\n');
}

/** Writes the script file and registers and starts the task (as SYSTEM, highest run level). */
export function launchScript(t: SystemTask): string {
  const argument = `-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "${scriptPath(t.name)}"`;
  // The script travels as UTF-8 bytes in base64: no quoting of its text on the way.
  const bytes = Buffer.from('\uFEFF' + t.script, 'utf8').toString('base64');
  return [
    "$ErrorActionPreference = 'Stop'",
    `New-Item -ItemType Directory -Force -Path ${psQuote(UPDATES_DIR)} | Out-Null`,
    `if (Test-Path -Path ${psQuote(resultPath(t.name))}) { Remove-Item -Path ${psQuote(resultPath(t.name))} -Force }`,
    `[IO.File]::WriteAllBytes(${psQuote(scriptPath(t.name))}, [Convert]::FromBase64String('${bytes}'))`,
    `$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument ${psQuote(argument)}`,
    "$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest",
    `Register-ScheduledTask -TaskName ${psQuote(taskName(t.name))} -Action $action -Principal $principal -Force | Out-Null`,
    `Start-ScheduledTask -TaskName ${psQuote(taskName(t.name))}`,
    "Write-Output 'started'",
  ].join('\r\n');
}

export function unregisterScript(name: string, removeResult: boolean): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$t = Get-ScheduledTask -TaskName ${psQuote(taskName(name))} -ErrorAction SilentlyContinue`,
    `if ($t -ne $null) { Unregister-ScheduledTask -TaskName ${psQuote(taskName(name))} -Confirm:$false }`,
    ...(removeResult
      ? [`if (Test-Path -Path ${psQuote(resultPath(name))}) { Remove-Item -Path ${psQuote(resultPath(name))} -Force }`]
      : []),
  ].join('\r\n');
}

export async function probeTask(ctx: GuestContext, name: string): Promise<TaskProbe> {
  const r = await runGuestScript(ctx, probeScript(name), `looking at ${taskName(name)}`);
  return lastJson<TaskProbe>(r, `the state of ${taskName(name)}`);
}

function parseResult<T>(text: string | null): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as T;
  } catch {
    // Still being written.
    return undefined;
  }
}

/**
 * Runs `t` as SYSTEM unless its result is already there or it is already running, and waits for its result up to
 * `timeoutMs`. Connection failures (the guest restarting, the NIC moving) are waited out.
 */
export async function runAsSystem<T>(
  ctx: GuestContext,
  t: SystemTask,
  o: { timeoutMs: number; what: string },
): Promise<{ result: T; rebootPending: boolean; reused: boolean }> {
  const deadline = Date.now() + o.timeoutMs;
  let launched = false;
  let endedWithoutResult = 0;
  for (;;) {
    let probe: TaskProbe | undefined;
    try {
      probe = await probeTask(ctx, t.name);
    } catch (err) {
      if (!isTransient(err)) throw err;
      ctx.progress?.({ phase: o.what, transient: (err as { type?: string }).type });
    }
    if (probe) {
      const result = parseResult<T>(probe.result);
      if (result !== undefined) return { result, rebootPending: probe.rebootPending, reused: !launched };
      const running = probe.task === 'Running' || probe.task === 'Queued';
      if (!running && launched) endedWithoutResult += 1;
      if (!running && (!launched || endedWithoutResult >= 2)) {
        if (launched)
          throw new XenimageError(
            'GuestCommandFailed',
            `${o.what}: the task ${taskName(t.name)} ended without writing its result`,
            { retryable: true },
          );
        await runGuestScript(ctx, launchScript(t), `starting ${taskName(t.name)}`);
        launched = true;
        ctx.progress?.({ phase: o.what, task: taskName(t.name), started: true });
      } else ctx.progress?.({ phase: o.what, task: taskName(t.name), state: probe.task });
    }
    if (Date.now() >= deadline)
      throw new XenimageError(
        'WindowsUpdateTimedOut',
        `${o.what} did not finish within ${Math.round(o.timeoutMs / 1000)} s`,
        { retryable: false },
      );
    await sleep(ctx.pollMs ?? 10_000, ctx.signal);
  }
}

/**
 * Removes the task; its result stays (a retry of the activity finds it) unless `removeResult`, which makes the next
 * attempt run the work again.
 */
export async function unregisterTask(ctx: GuestContext, name: string, removeResult = false): Promise<void> {
  await runGuestScript(ctx, unregisterScript(name, removeResult), `removing ${taskName(name)}`);
}
