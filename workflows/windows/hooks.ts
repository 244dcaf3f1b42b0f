// Operators' hook scripts (issue 13, item 4): checked to exist before the build makes anything, then run in the guest
// at their points (afterInstall, beforeCloudbaseInit, beforeSysprep), each point one step. A failing hook fails the
// build (HookFailed, non-retryable, with the script's last lines) and the saga cleans up.
import type { GuestConnection } from '../../activities/index.js';
import type { SecretRef } from '../../src/contracts/secretRef.js';
import type { HookPoint, HookRunRecord } from '../../src/contracts/windowsGuestInput.js';
import type { WindowsImageParams } from '../../src/contracts/windowsInput.js';
import type { BuildActivities } from '../build/proxies.js';
import type { BuildTracker } from '../build/tracker.js';

export class Hooks {
  readonly runs: HookRunRecord[] = [];

  constructor(
    private readonly build: BuildTracker,
    private readonly general: BuildActivities,
    private readonly waits: BuildActivities,
    private readonly hooks: WindowsImageParams['hooks'],
    /** The build's input secrets, scrubbed from the hooks' output. */
    private readonly scrub: SecretRef[],
  ) {}

  private names(point: HookPoint): string[] {
    return this.hooks[point] ?? [];
  }

  /** Before anything is created: every named script exists. */
  async check(): Promise<void> {
    if (!(['afterInstall', 'beforeCloudbaseInit', 'beforeSysprep'] as const).some((p) => this.names(p).length)) return;
    await this.build.step(
      'check hooks',
      () => this.general.checkHooks({ hooks: this.hooks }),
      (r) => r.found.join(', '),
    );
  }

  async run(point: HookPoint, guest: GuestConnection): Promise<void> {
    const names = this.names(point);
    if (names.length === 0) return;
    const { runs } = await this.build.step(
      `hooks ${point}`,
      () => this.waits.runHooks({ guest, point, names, scrub: this.scrub }),
      (r) => r.runs.map((x) => `${x.name} exit ${x.exitCode}`).join(', '),
    );
    this.runs.push(...runs);
  }
}
