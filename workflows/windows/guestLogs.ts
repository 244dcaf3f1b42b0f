// The guest logs an operator needs to understand a Windows build (Panther, cloudbase-init, the PV tools MSI log),
// collected after a failed sysprep attempt and once before sysprep's shutdown, kept in the build's progress and
// result — so they can be read from Temporal alone — within a budget: 200 lines per file, 64 KiB per build.
import { isCancellation, log } from '@temporalio/workflow';
import type { GuestConnection } from '../../activities/index.js';
import type { GuestLogCollection } from '../../src/contracts/messages.js';
import type { SecretRef } from '../../src/contracts/secretRef.js';
import type { BuildActivities } from '../build/proxies.js';
import type { BuildTracker } from '../build/tracker.js';

const LOG_LINES_PER_FILE = 200;
const LOG_BYTES_PER_BUILD = 64 * 1024;

export class GuestLogBook {
  private readonly collections: GuestLogCollection[] = [];
  private used = 0;

  constructor(
    private readonly build: BuildTracker,
    private readonly activities: BuildActivities,
    /** The build's input secrets, scrubbed from the logs by value. */
    private readonly scrub: SecretRef[],
  ) {
    build.progress.guestLogs = this.collections;
  }

  get all(): GuestLogCollection[] {
    return this.collections;
  }

  /** Collects what the budget allows; a failure to collect is logged, never fails the build. */
  async collect(moment: GuestLogCollection['moment'], attempt: number, guest: GuestConnection): Promise<void> {
    const maxBytes = LOG_BYTES_PER_BUILD - this.used;
    if (maxBytes <= 0) return;
    try {
      const got = await this.build.step(
        'collect logs',
        () => this.activities.collectLogs({ guest, maxLines: LOG_LINES_PER_FILE, maxBytes, scrub: this.scrub }),
        (l) => `${l.files.length} files, ${l.bytes} bytes`,
        attempt,
      );
      this.used += got.bytes;
      this.collections.push({
        attempt,
        moment,
        collectedAt: got.collectedAt,
        files: got.files.map((f) => ({ path: f.guestPath, lines: f.lines, truncated: f.truncated })),
        missing: got.missing,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('guest logs not collected', {
        moment,
        attempt,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
