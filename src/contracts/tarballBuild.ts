// The fields every build that packs a disk into the tap-VHD tarball shares (convert, from-vm): what to publish,
// where, how hard to compress, and what to do on failure.
import { z } from 'zod';
import { CloudNameSchema, ImageSpecSchema, OsTypeSchema } from './imageSpec.js';
import { DEFAULT_TUNING, TuningSchema } from './tuning.js';

export const TarballBuildFields = {
  image: ImageSpecSchema,
  osType: OsTypeSchema.optional(),
  cloud: CloudNameSchema,
  /** gzip level of the tarball. */
  compressionLevel: z.number().int().min(1).max(9).default(6),
  /** Keep what a failed build made (the Glance image, a normalisation VDI) for debugging. */
  keepOnFailure: z.boolean().default(false),
  tuning: TuningSchema.default(DEFAULT_TUNING),
};
