// Input of the convertImage workflow: a disk file or URL → tap VHD tarball → Glance.
import { z } from 'zod';
import { VmModeSchema } from './imageSpec.js';
import { InputUrlSchema } from './inputUrl.js';
import { TarballBuildFields } from './tarballBuild.js';

export const ImageSourceSchema = z.union([
  z
    .object({
      path: z
        .string()
        .min(1)
        .refine((p) => p.startsWith('/'), 'an absolute path on the worker host'),
    })
    .strict(),
  z.object({ url: InputUrlSchema }).strict(),
]);
export type ImageSource = z.infer<typeof ImageSourceSchema>;

export const ConvertImageInputSchema = z
  .object({
    source: ImageSourceSchema,
    vmMode: VmModeSchema,
    ...TarballBuildFields,
  })
  .strict();

export type ConvertImageInput = z.input<typeof ConvertImageInputSchema>;
