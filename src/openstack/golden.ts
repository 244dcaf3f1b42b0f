// Golden images in Glance (docs/decisions/builds-0004-golden-image-rotation.md): every image a schedule makes
// carries xenimage_golden=<schedule>; once verified it gets xenimage_golden_verified_at; the newest verified one
// is current (xenimage_golden_current=true, the others false); beyond the newest `keep` the older ones are
// retired: hidden (os_hidden), deactivated or deleted.
import { minimumKeep, RETIRE_POLICIES, type RetirePolicy } from '../contracts/goldenInput.js';
import { InvalidInputError, XenimageError } from '../errors.js';
import type { GlanceClient, GlanceImage } from './glance.js';

export { RETIRE_POLICIES, type RetirePolicy } from '../contracts/goldenInput.js';

export const GOLDEN_PROPERTY = 'xenimage_golden';
export const GOLDEN_VERIFIED_PROPERTY = 'xenimage_golden_verified_at';
export const GOLDEN_CURRENT_PROPERTY = 'xenimage_golden_current';

/** A typed, non-retryable error for a keep count the policy does not allow. */
export function checkRotation(keep: number, retire: string): asserts retire is RetirePolicy {
  if (!(RETIRE_POLICIES as readonly string[]).includes(retire))
    throw new InvalidInputError(`retire must be one of ${RETIRE_POLICIES.join(', ')}, not "${retire}"`, {
      field: 'retire',
    });
  const min = minimumKeep(retire as RetirePolicy);
  if (!Number.isInteger(keep) || keep < min)
    throw new InvalidInputError(
      `keep must be an integer of at least ${min} with retire=${retire}${min > 1 ? ' (the previous image stays while consumers may still use it)' : ''}`,
      { field: 'keep' },
    );
}

/** Every image of a golden series, visible and hidden. */
export async function goldenImages(glance: GlanceClient, name: string, signal?: AbortSignal): Promise<GlanceImage[]> {
  const properties = { [GOLDEN_PROPERTY]: name };
  const [visible, hidden] = await Promise.all([
    glance.listImages({ properties }, signal),
    glance.listImages({ properties, os_hidden: 'true' }, signal),
  ]);
  const seen = new Set<string>();
  return [...visible, ...hidden].filter((i) => !seen.has(i.id) && seen.add(i.id));
}

function verifiedAt(image: GlanceImage): string | undefined {
  const v = image[GOLDEN_VERIFIED_PROPERTY];
  return typeof v === 'string' ? v : undefined;
}

/** The verified, active, visible images of a series, newest verified first (ties: newest created first). */
export function liveGolden(images: GlanceImage[]): GlanceImage[] {
  return images
    .filter((i) => verifiedAt(i) !== undefined && i.status === 'active' && i.os_hidden !== true)
    .sort(
      (a, b) =>
        verifiedAt(b)!.localeCompare(verifiedAt(a)!) ||
        b.created_at.localeCompare(a.created_at) ||
        (a.id < b.id ? -1 : 1),
    );
}

/** The current image of a series: the newest verified one still in service. */
export function currentGolden(images: GlanceImage[]): GlanceImage | undefined {
  return liveGolden(images)[0];
}

export interface RotationRequest {
  /** The schedule's name: the value of xenimage_golden. */
  name: string;
  /** The image the build just verified. */
  imageId: string;
  keep: number;
  retire: RetirePolicy;
  /** When the build verified it (ISO 8601, the workflow's clock). */
  verifiedAt: string;
}

export interface Rotation {
  current: string;
  kept: string[];
  retired: Array<{ id: string; name: string | null; action: RetirePolicy }>;
}

/**
 * Marks the verified image, makes the newest verified image current and retires the ones beyond `keep`.
 * Idempotent: run again, it finds the state it made and changes nothing.
 */
export async function rotateGolden(
  glance: GlanceClient,
  req: RotationRequest,
  signal?: AbortSignal,
): Promise<Rotation> {
  checkRotation(req.keep, req.retire);
  const made = await glance.getImage(req.imageId, signal);
  if (made[GOLDEN_PROPERTY] !== req.name || made.status !== 'active')
    throw new XenimageError(
      'GoldenMismatch',
      `image ${req.imageId} is not an active image of golden series "${req.name}" (${GOLDEN_PROPERTY}=${String(made[GOLDEN_PROPERTY])}, status ${made.status})`,
      { retryable: false },
    );
  if (verifiedAt(made) === undefined)
    await glance.updateImage(req.imageId, { [GOLDEN_VERIFIED_PROPERTY]: req.verifiedAt }, signal);

  const live = liveGolden(await goldenImages(glance, req.name, signal));
  const kept = live.slice(0, req.keep);
  const retiring = live.slice(req.keep);
  const current = kept[0];
  if (!current) throw new XenimageError('GoldenMismatch', `golden series "${req.name}" lists no verified image`);
  await glance.updateImage(current.id, { [GOLDEN_CURRENT_PROPERTY]: 'true' }, signal);
  for (const image of kept.slice(1)) await glance.updateImage(image.id, { [GOLDEN_CURRENT_PROPERTY]: 'false' }, signal);
  for (const image of retiring) {
    if (req.retire === 'delete') {
      await glance.deleteImage(image.id, signal);
      continue;
    }
    await glance.updateImage(
      image.id,
      { [GOLDEN_CURRENT_PROPERTY]: 'false', ...(req.retire === 'hide' ? { os_hidden: true } : {}) },
      signal,
    );
    if (req.retire === 'deactivate') await glance.deactivateImage(image.id, signal);
  }
  return {
    current: current.id,
    kept: kept.map((i) => i.id),
    retired: retiring.map((i) => ({ id: i.id, name: i.name, action: req.retire })),
  };
}
