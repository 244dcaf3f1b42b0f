// A clean image (docs/decisions/windows-0007-clean-image.md): what the build added to the guest for itself does not
// ship. Before the pre-sysprep snapshot the answer ISO goes (ejected and destroyed) and so do the files and
// settings the build no longer needs; after sysprep and the log collection the guest's last command removes the
// WinRM access the build used and shuts the guest down, and the workflow waits for the halt through XAPI.
import { ActivityFailure, ApplicationFailure, isCancellation } from '@temporalio/workflow';
import type { GuestConnection } from '../../activities/index.js';
import { durationMs } from '../../src/contracts/duration.js';
import type { WindowsImageParams } from '../../src/contracts/windowsInput.js';
import { failureText } from '../build/failures.js';
import type { BuildActivities } from '../build/proxies.js';
import type { BuildTracker } from '../build/tracker.js';

export interface CleanImageRecord {
  remoteAccess: WindowsImageParams['guestRemoteAccess'];
  /** The answer ISOs ejected and destroyed before the snapshot. */
  answerMedia: string[];
  /** Files and settings removed before the snapshot (as the guest reported them). */
  removed: string[];
  /** The seal (listeners, Basic, AllowUnencrypted, certificate and key, firewall rules) ran and the guest halted. */
  sealed: boolean;
}

interface CleanSession {
  build: BuildTracker;
  xen: BuildActivities;
  waits: BuildActivities;
  pool: string;
  vm: string;
  id: string;
  input: Pick<WindowsImageParams, 'guestRemoteAccess' | 'timeouts'>;
}

/** Before the pre-sysprep snapshot: the answer ISO and the build's files go, so every attempt starts without them. */
export async function cleanBeforeSnapshot(s: CleanSession, guest: GuestConnection): Promise<CleanImageRecord> {
  const { build, xen, waits, pool, id } = s;
  const media = await build.step(
    'eject answer ISO',
    () => xen.discardAnswerMedia({ pool, build: id }),
    (d) => d.discarded.join(', ') || 'already gone',
  );
  const files = await build.step(
    'remove build files',
    () => waits.removeBuildFiles({ guest, remoteAccess: s.input.guestRemoteAccess }),
    (f) => f.removed.join(', ') || 'nothing left',
  );
  return {
    remoteAccess: s.input.guestRemoteAccess,
    answerMedia: media.discarded,
    removed: files.removed,
    sealed: false,
  };
}

/** The guest's last command (the build's access goes, then the shutdown), and the wait for the halt. */
export async function sealAndHalt(s: CleanSession, guest: GuestConnection, record: CleanImageRecord): Promise<void> {
  const { build, waits, pool, vm } = s;
  await build.step('seal and shut down', () => waits.sealGuest({ guest, remoteAccess: s.input.guestRemoteAccess }));
  try {
    await build.step('wait for halt', () =>
      waits.waitForHalt({ pool, vm, timeoutMs: durationMs(s.input.timeouts.halt) }),
    );
  } catch (err) {
    if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
    // The seal shuts down only when every removal succeeded: a guest still up keeps some of the build's access.
    throw ApplicationFailure.nonRetryable(
      `the guest did not halt within ${s.input.timeouts.halt} after the seal: a removal of the build's access failed, so the image is not published (${failureText(err)})`,
      'SealFailed',
    );
  }
  record.sealed = true;
}
