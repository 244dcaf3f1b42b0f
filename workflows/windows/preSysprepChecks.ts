// The checks before the first sysprep attempt (issue 13, item 3): one step, its outcomes in the build's progress and
// result. They run before the pre-sysprep snapshot, so a remedy (a removed package, a completed reboot) holds for
// every attempt that reverts to it.
import type { GuestConnection } from '../../activities/index.js';
import type { PreSysprepCheckRecord } from '../../src/contracts/messages.js';
import type { WindowsImageParams } from '../../src/contracts/windowsInput.js';
import type { BuildActivities } from '../build/proxies.js';
import type { BuildTracker } from '../build/tracker.js';

export async function preSysprepChecks(
  build: BuildTracker,
  waits: BuildActivities,
  guest: GuestConnection,
  input: Pick<WindowsImageParams, 'preSysprep'>,
): Promise<{ checks: PreSysprepCheckRecord[]; address?: string } | undefined> {
  const mode = input.preSysprep.checks;
  if (mode === 'off') return undefined;
  const { checks, address } = await build.step(
    'pre-sysprep checks',
    () => waits.preSysprepChecks({ guest, mode }),
    (r) =>
      r.checks
        .filter((c) => c.outcome !== 'clear')
        .map((c) => `${c.check} ${c.outcome}`)
        .join(', ') || 'all clear',
  );
  build.progress.preSysprepChecks = checks;
  // Where the guest is now: a reboot the checks did may have moved it (absent in builds recorded before).
  return { checks, ...(address ? { address } : {}) };
}
