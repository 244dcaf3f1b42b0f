// Windows Update during the build (issue 13.2): a field of the windowsImage input (windowsInput.ts), in its own
// module. Rounds of search → download → install inside the guest (docs/decisions/windows-0009-windows-update.md).
import { z } from 'zod';

/** The update classifications Windows Update reports as an update's category (ICategory.Name, Type "UpdateClassification"). */
export const UPDATE_CLASSIFICATIONS = [
  'Critical Updates',
  'Definition Updates',
  'Drivers',
  'Feature Packs',
  'Security Updates',
  'Service Packs',
  'Tools',
  'Update Rollups',
  'Updates',
  'Upgrades',
] as const;

/** A Knowledge Base article ID as Windows Update names updates: "KB5044281" (the digits alone are accepted). */
export const KbIdSchema = z
  .string()
  .regex(/^(KB)?\d{6,8}$/i, 'a KB article ID such as "KB5044281"')
  .transform((s) => `KB${s.replace(/^KB/i, '')}`);

export const WindowsUpdatesSchema = z
  .object({
    /** Install the updates Windows Update offers (rounds until none is left, or maxRounds). */
    install: z.boolean(),
    /** Search → download → install rounds at most; a reboot follows each round that requires one. */
    maxRounds: z.number().int().min(1).max(20).default(5),
    /** Updates never installed, by KB article ID. */
    exclude: z.array(KbIdSchema).max(200).default([]),
    /** Only updates in one of these classifications; all of them when absent. */
    categories: z.array(z.enum(UPDATE_CLASSIFICATIONS)).min(1).optional(),
    /** DISM /StartComponentCleanup after the last round (superseded components removed). */
    componentCleanup: z.boolean().default(true),
    /** …with /ResetBase: smaller, but the installed updates can no longer be uninstalled. */
    resetBase: z.boolean().default(false),
  })
  .strict()
  .refine((u) => !u.resetBase || u.componentCleanup, {
    message: 'resetBase needs componentCleanup',
    path: ['resetBase'],
  });

export type WindowsUpdatesInput = z.input<typeof WindowsUpdatesSchema>;
export type WindowsUpdates = z.infer<typeof WindowsUpdatesSchema>;

export const windowsUpdatesInputFields = {
  /** Windows Update inside the guest, after the PV tools and before cloudbase-init; none when absent. */
  updates: WindowsUpdatesSchema.optional(),
};
