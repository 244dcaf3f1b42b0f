// Input of the convertImage workflow: a disk file or URL → tap VHD tarball → Glance.
import { z } from 'zod';
import { VmModeSchema } from './imageSpec.js';
import { InputUrlSchema } from './inputUrl.js';
import { TarballBuildFields } from './tarballBuild.js';

/**
 * The format a source declares (`vpc` is qemu's name for VHD). Optional: the header decides, and a declared
 * format or a telling extension must agree with it; a headerless (raw) disk must be declared.
 */
export const DiskFormatSchema = z.enum(['raw', 'qcow2', 'vhd', 'vpc', 'vmdk', 'vhdx', 'vdi', 'qed']);

export const ImageSourceSchema = z.union([
  z
    .object({
      path: z
        .string()
        .min(1)
        .refine((p) => p.startsWith('/'), 'an absolute path on the worker host'),
      format: DiskFormatSchema.optional(),
    })
    .strict(),
  z.object({ url: InputUrlSchema, format: DiskFormatSchema.optional() }).strict(),
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
