// Input of the goldenImage workflow a schedule starts (docs/decisions/builds-0004-golden-image-rotation.md): the
// build to run, the stable name of its image, and how the series rotates.
import { z } from 'zod';

export const RETIRE_POLICIES = ['hide', 'deactivate', 'delete'] as const;
export type RetirePolicy = (typeof RETIRE_POLICIES)[number];

export const GOLDEN_BUILD_WORKFLOWS = {
  convert: 'convertImage',
  'from-vm': 'vmImage',
  windows: 'windowsImage',
} as const;

/**
 * How many verified images a policy keeps at least: a hidden image still boots by ID, so the current one suffices;
 * deactivating or deleting the image a consumer resolved a moment ago would break it, so the previous one stays.
 */
export function minimumKeep(policy: RetirePolicy): number {
  return policy === 'hide' ? 1 : 2;
}

/** `{name}` is the schedule's name, `{date}` the run's UTC date (YYYY-MM-DD); nothing else is replaced. */
export const IMAGE_NAME_PATTERN = /^(?:[^{}]|\{name\}|\{date\})+$/;

export function expandImageName(pattern: string, schedule: string, at: Date): string {
  return pattern.replaceAll('{name}', schedule).replaceAll('{date}', at.toISOString().slice(0, 10));
}

export const GoldenImageInputSchema = z
  .object({
    /** The schedule's ID: the value of the images' xenimage_golden property. */
    schedule: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, . _ - (at most 100)'),
    kind: z.enum(['convert', 'from-vm', 'windows']),
    imageName: z.string().min(1).max(200).regex(IMAGE_NAME_PATTERN, 'only {name} and {date} may appear in braces'),
    keep: z.number().int().min(1).max(1000).default(2),
    retire: z.enum(RETIRE_POLICIES).default('hide'),
    /** The build's own input; the build validates it (its image name is replaced, xenimage_golden added). */
    build: z.looseObject({ cloud: z.string().min(1), image: z.looseObject({}) }),
  })
  .strict()
  .refine((g) => g.keep >= minimumKeep(g.retire), {
    message: 'keep must be at least 2 with retire deactivate or delete (the previous image stays in service)',
    path: ['keep'],
  });

export type GoldenImageInput = z.input<typeof GoldenImageInputSchema>;
export type GoldenImageParams = z.infer<typeof GoldenImageInputSchema>;
