// Windows Update rounds (docs/decisions/windows-0009-windows-update.md): search → download → install inside the
// guest, a restart after each round that needs one, until a round has nothing left to install, at most maxRounds,
// and no round started after timeouts.updates; then the component store clean-up. Each round is a step of the
// progress query.
import type { GuestConnection } from '../../activities/index.js';
import { durationMs } from '../../src/contracts/duration.js';
import type { WindowsImageParams } from '../../src/contracts/windowsInput.js';
import type { WindowsUpdates } from '../../src/contracts/windowsUpdatesInput.js';
import type { BuildActivities } from '../build/proxies.js';
import type { BuildTracker } from '../build/tracker.js';

export interface UpdateRoundRecord {
  round: number;
  installed: string[];
  failed: Array<{ kb: string; hresult: string }>;
  skipped: Array<{ kb: string; reason: 'excluded' | 'category' }>;
  rebooted: boolean;
}

export interface UpdatesRecord {
  rounds: UpdateRoundRecord[];
  /** Every KB installed, in the order of the rounds. */
  installed: string[];
  /** Why no further round ran. */
  stoppedBy: 'nothing-left' | 'only-repeated-failures' | 'max-rounds' | 'time-limit';
  componentCleanup?: { resetBase: boolean; exitCode: number };
}

interface UpdatesSession {
  build: BuildTracker;
  waits: BuildActivities;
  updates: WindowsUpdates;
  input: Pick<WindowsImageParams, 'timeouts'>;
}

/** The rounds and the clean-up; returns where the guest is afterwards (restarts move it) and the record. */
export async function installUpdates(
  s: UpdatesSession,
  guest: GuestConnection,
  relocate: (address: string) => GuestConnection,
): Promise<{ guest: GuestConnection; record: UpdatesRecord }> {
  const { build, waits, updates } = s;
  const deadline = Date.now() + durationMs(s.input.timeouts.updates);
  const rounds: UpdateRoundRecord[] = [];
  let stoppedBy: UpdatesRecord['stoppedBy'] = 'max-rounds';
  for (let round = 1; round <= updates.maxRounds; round++) {
    const left = deadline - Date.now();
    if (left <= 0) {
      stoppedBy = 'time-limit';
      break;
    }
    const r = await build.step(
      `updates round ${round}`,
      () =>
        waits.updateRound({
          guest,
          round,
          exclude: updates.exclude,
          ...(updates.categories ? { categories: updates.categories } : {}),
          timeoutSec: Math.max(60, Math.ceil(left / 1000)),
        }),
      (x) =>
        `${x.installed.map((u) => u.kb).join(', ') || 'nothing installed'}${x.failed.length ? `; failed ${x.failed.map((u) => `${u.kb} (${u.hresult})`).join(', ')}` : ''}${x.rebooted ? '; restarted' : ''}`,
    );
    if (r.address !== guest.address) guest = relocate(r.address);
    const previous = rounds.at(-1);
    rounds.push({
      round,
      installed: r.installed.map((u) => u.kb),
      failed: r.failed.map((u) => ({ kb: u.kb, hresult: u.hresult })),
      skipped: r.skipped,
      rebooted: r.rebooted,
    });
    if (r.installed.length === 0 && r.failed.length === 0) {
      stoppedBy = 'nothing-left';
      break;
    }
    // Failures installing nothing, the same as last round's: another round would only repeat them.
    if (
      r.installed.length === 0 &&
      !r.rebooted &&
      previous !== undefined &&
      r.failed.every((f) => previous.failed.some((p) => p.kb === f.kb))
    ) {
      stoppedBy = 'only-repeated-failures';
      break;
    }
  }
  const record: UpdatesRecord = { rounds, installed: rounds.flatMap((r) => r.installed), stoppedBy };
  // The rounds' scripts and results leave the guest either way; DISM runs when asked.
  const cleanup = await build.step(
    updates.componentCleanup ? 'component cleanup' : 'remove update files',
    () => waits.componentCleanup({ guest, dism: updates.componentCleanup, resetBase: updates.resetBase }),
    (c) =>
      c.exitCode === null
        ? 'files removed'
        : `DISM /StartComponentCleanup${c.resetBase ? ' /ResetBase' : ''} exited ${c.exitCode}`,
  );
  if (cleanup.exitCode !== null && cleanup.resetBase !== null)
    record.componentCleanup = { resetBase: cleanup.resetBase, exitCode: cleanup.exitCode };
  return { guest, record };
}
