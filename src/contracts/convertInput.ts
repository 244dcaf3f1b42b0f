// Input of the convertImage workflow: a disk file or URL → tap VHD tarball → Glance.
import { z } from 'zod';
import { DEFAULT_TUNING, TuningSchema } from './tuning.js';
import { CloudNameSchema, ImageSpecSchema, OsTypeSchema, VmModeSchema } from './imageSpec.js';

export const ImageSourceSchema = z.union([
  z.object({ path: z.string().min(1).refine((p) => p.startsWith('/'), 'an absolute path on the worker host') }).strict(),
  z.object({ url: z.url({ protocol: /^https?$/ }) }).strict(),
]);
export type ImageSource = z.infer<typeof ImageSourceSchema>;

export const ConvertImageInputSchema = z
  .object({
    source: ImageSourceSchema,
    image: ImageSpecSchema,
    vmMode: VmModeSchema,
    osType: OsTypeSchema.optional(),
    cloud: CloudNameSchema,
    /** gzip level of the tarball. */
    compressionLevel: z.number().int().min(1).max(9).default(6),
    /** Keep what a failed build made (the Glance image) for debugging. */
    keepOnFailure: z.boolean().default(false),
    tuning: TuningSchema.default(DEFAULT_TUNING),
  })
  .strict();

export type ConvertImageInput = z.input<typeof ConvertImageInputSchema>;
export type ConvertImageParams = z.infer<typeof ConvertImageInputSchema>;
