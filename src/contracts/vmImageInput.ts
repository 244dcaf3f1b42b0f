// Input of the vmImage workflow: the system disk of an existing XenServer VM → Glance.
import { z } from 'zod';
import { DurationSchema } from './duration.js';
import { TarballBuildFields } from './tarballBuild.js';

export const VmRefSchema = z.union([
  z.object({ name: z.string().min(1) }).strict(),
  z.object({ uuid: z.uuid() }).strict(),
]);

export const VmImageInputSchema = z
  .object({
    pool: z.string().min(1),
    vm: VmRefSchema,
    shutdown: z
      .object({
        /** Bound of the clean shutdown of a running VM. */
        timeout: DurationSchema.default('10m'),
        /** Power the VM off when it does not shut down cleanly in time (or has no PV drivers). */
        allowHard: z.boolean().default(false),
      })
      .strict()
      .default({ timeout: '10m', allowHard: false }),
    /** "xapi" re-imports the disk through a VDI of an EXT SR and exports it again (the classic manual recipe). */
    normalize: z.enum(['none', 'xapi']).default('none'),
    /** EXT SR (name_label) for normalize "xapi"; default: the first SR of type ext. */
    normalizeSr: z.string().min(1).optional(),
    ...TarballBuildFields,
  })
  .strict();

export type VmImageInput = z.input<typeof VmImageInputSchema>;
