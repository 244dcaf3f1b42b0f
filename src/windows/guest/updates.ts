// Windows Update rounds inside the guest (docs/decisions/windows-0009-windows-update.md): each round runs as SYSTEM
// through a scheduled task (updatesTask.ts) and is found again on retry by its number; a restart follows a round
// that left one pending. After the last round, DISM cleans the component store.
import { XenimageError } from '../../errors.js';
import { rebootAndWait } from './reboot.js';
import { psQuote } from '../../winrm/powershell.js';
import { runGuestScript, type GuestContext } from './session.js';
import {
  componentCleanupScript,
  roundScript,
  type CleanupFile,
  type RoundFile,
  type RoundScriptOptions,
} from './updatesScripts.js';
import { runAsSystem, unregisterTask, UPDATES_DIR } from './updatesTask.js';

export interface UpdateRoundResult {
  round: number;
  /** KB IDs the search offered, excluded ones included. */
  offered: string[];
  installed: Array<{ kb: string; title: string }>;
  /** `hresult` as Windows writes it: 0x80070643. */
  failed: Array<{ kb: string; title: string; hresult: string }>;
  skipped: Array<{ kb: string; reason: 'excluded' | 'category' }>;
  rebootRequired: boolean;
  /** This activity restarted the guest (a retry after the restart finds none pending). */
  rebooted: boolean;
  /** The round had already run (an activity retry found its result). */
  reused: boolean;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
const roundName = (round: number): string => `updates-round-${round}`;

/** One search → download → install round; restarts the guest when the round left a restart pending. */
export async function updateRound(
  ctx: GuestContext,
  o: RoundScriptOptions & { timeoutMs: number; rebootTimeoutMs: number },
): Promise<UpdateRoundResult> {
  const started = Date.now();
  const name = roundName(o.round);
  const what = `Windows Update round ${o.round}`;
  const { result, rebootPending, reused } = await runAsSystem<RoundFile>(
    ctx,
    { name, script: roundScript(o, name) },
    { timeoutMs: o.timeoutMs, what },
  );
  if (result.error !== null) {
    // The agent itself failed (no network, service stopped): the task and its result go, so a retry runs again.
    await unregisterTask(ctx, name, true);
    throw new XenimageError('WindowsUpdateFailed', `${what}: ${result.error}`, {
      retryable: true,
      details: { round: o.round },
    });
  }
  await unregisterTask(ctx, name);
  let rebooted = false;
  if (rebootPending) {
    ctx.progress?.({ phase: `${what}: restarting`, installed: result.installed.length });
    await rebootAndWait(ctx, {
      timeoutMs: Math.max(60_000, o.rebootTimeoutMs - (Date.now() - started)),
      issue: true,
      reason: 'xenimage: Windows Update',
    });
    rebooted = true;
  }
  return {
    round: result.round,
    offered: result.offered.map((u) => u.kb),
    installed: result.installed.map((u) => ({ kb: u.kb, title: u.title })),
    failed: result.failed.map((u) => ({ kb: u.kb, title: u.title, hresult: hex(u.hresult) })),
    skipped: result.skipped.map((u) => ({ kb: u.kb, reason: u.reason })),
    rebootRequired: result.rebootRequired,
    rebooted,
    reused,
  };
}

export interface ComponentCleanupResult {
  /** null when DISM was not asked for (only the rounds' files were removed). */
  resetBase: boolean | null;
  exitCode: number | null;
}

/**
 * After the last round: DISM /Online /Cleanup-Image /StartComponentCleanup [/ResetBase] as SYSTEM when `dism` (a
 * non-zero exit fails typed), then the rounds' scripts and results leave the guest (they do not ship).
 */
export async function componentCleanup(
  ctx: GuestContext,
  o: { dism: boolean; resetBase: boolean; timeoutMs: number },
): Promise<ComponentCleanupResult> {
  const done = o.dism ? await runDism(ctx, o) : { resetBase: null, exitCode: null };
  await runGuestScript(
    ctx,
    [
      "$ErrorActionPreference = 'Stop'",
      `if (Test-Path -Path ${psQuote(UPDATES_DIR)}) { Remove-Item -Path ${psQuote(UPDATES_DIR)} -Recurse -Force }`,
    ].join('\r\n'),
    "removing the update rounds' files",
  );
  return done;
}

async function runDism(
  ctx: GuestContext,
  o: { resetBase: boolean; timeoutMs: number },
): Promise<ComponentCleanupResult> {
  const name = 'component-cleanup';
  const { result } = await runAsSystem<CleanupFile>(
    ctx,
    { name, script: componentCleanupScript(o, name) },
    { timeoutMs: o.timeoutMs, what: 'the component store clean-up' },
  );
  await unregisterTask(ctx, name);
  if (result.exitCode !== 0)
    throw new XenimageError('ComponentCleanupFailed', `DISM /StartComponentCleanup exited ${hex(result.exitCode)}`, {
      retryable: false,
      details: { exitCode: result.exitCode },
    });
  return { resetBase: result.resetBase, exitCode: result.exitCode };
}
