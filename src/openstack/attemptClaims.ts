// Two attempts of one build can both be alive and both upload (a retry racing an attempt whose worker lost
// contact): exactly one image must survive, and every attempt that reports success must name it. Glance has no
// compare-and-set, but a `protected` image cannot be deleted (403): an attempt *claims* its verified image by
// protecting it, and only then looks at the others. Decision: docs/decisions/openstack-0003-concurrent-attempts.md.
import { setTimeout as sleep } from 'node:timers/promises';
import { XenimageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OpenStackCloud } from './cloud.js';
import { GlanceError } from './errors.js';
import type { GlanceImage } from './glance.js';

/** How long a winner waits for the other claimants to withdraw before it removes their images itself. */
const SETTLE_TIMEOUT_MS = 60_000;
const SETTLE_POLL_MS = 500;

/** Creation order; Glance's created_at has one-second resolution, so the ID breaks ties the same way for everyone. */
export function byCreation(a: GlanceImage, b: GlanceImage): number {
  return a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
}

/** An image some attempt may stand behind: verified and claimed, or active. The oldest of them wins. */
function isCandidate(img: GlanceImage): boolean {
  return img.protected === true || img.status === 'active';
}

const GONE = new Set(['deleted', 'pending_delete', 'killed']);

async function isGone(cloud: OpenStackCloud, id: string, signal?: AbortSignal): Promise<boolean> {
  try {
    return GONE.has((await cloud.glance.getImage(id, signal)).status);
  } catch (err) {
    if (isStatus(err, 404)) return true;
    throw err;
  }
}

function isStatus(err: unknown, status: number): boolean {
  return err instanceof GlanceError && err.status === status;
}

/** Deletes an image, releasing its claim first when it has one (a claimant that died before it let go). */
export async function removeImage(cloud: OpenStackCloud, id: string, signal?: AbortSignal): Promise<boolean> {
  try {
    return await cloud.glance.deleteImage(id, signal);
  } catch (err) {
    if (!isStatus(err, 403)) throw err;
    await release(cloud, id, signal);
    return cloud.glance.deleteImage(id, signal);
  }
}

async function release(cloud: OpenStackCloud, id: string, signal?: AbortSignal): Promise<void> {
  try {
    await cloud.glance.updateImage(id, { protected: false }, signal);
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
  }
}

/**
 * Claims our verified image and settles with the build's other attempts. Returns the image that survives: ours,
 * or an older candidate another attempt stands behind (ours is then deleted). Throws a retryable
 * `PublishSuperseded` when our image was deleted before we could claim it (another attempt won; the retry finds
 * its image). The survivor is released (unprotected) before this returns, once no other claim is left.
 */
export async function claimAndSettle(
  cloud: OpenStackCloud,
  listBuildImages: () => Promise<GlanceImage[]>,
  ours: GlanceImage,
  logger: Logger,
  signal?: AbortSignal,
): Promise<GlanceImage> {
  try {
    await cloud.glance.updateImage(ours.id, { protected: true }, signal);
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
    throw new XenimageError(
      'PublishSuperseded',
      `image ${ours.id} was removed by another attempt of this build before it was claimed`,
      { retryable: true },
    );
  }
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    // An image deleted a moment ago can still be listed as `deleted` (or `pending_delete`): it is gone.
    const images = (await listBuildImages()).filter((img) => !GONE.has(img.status));
    const winner = images.filter(isCandidate).sort(byCreation)[0] ?? ours;
    if (winner.id !== ours.id) {
      logger.info({ imageId: winner.id }, 'an older image of this build is claimed or active; ours withdraws');
      await removeImage(cloud, ours.id, signal);
      return winner;
    }
    // Ours is the oldest candidate: every unclaimed image of the build goes (uploads of other attempts then
    // fail, their claims find nothing). A claimed one belongs to an attempt deciding right now: it will see
    // ours and withdraw; until it has, ours stays claimed, so that its possibly older list cannot delete ours.
    let claimedByOthers = 0;
    for (const img of images) {
      if (img.id === ours.id) continue;
      if (img.protected === true) {
        claimedByOthers++;
        continue;
      }
      try {
        await cloud.glance.deleteImage(img.id, signal);
        logger.info({ imageId: img.id, status: img.status }, 'deleted an unclaimed image of another attempt');
      } catch (err) {
        if (isStatus(err, 403))
          claimedByOthers++; // claimed since our list
        else if (!(isStatus(err, 400) && (await isGone(cloud, img.id, signal)))) throw err; // deleted meanwhile
      }
    }
    if (claimedByOthers === 0) break;
    if (Date.now() > deadline) {
      // Their attempts did not withdraw in time (dead since they claimed): their images go now.
      for (const img of images)
        if (img.id !== ours.id && img.protected === true) await removeImage(cloud, img.id, signal);
      break;
    }
    await sleep(SETTLE_POLL_MS, undefined, { signal });
  }
  await release(cloud, ours.id, signal);
  return ours;
}
