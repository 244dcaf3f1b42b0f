// The states a scenario or a test can put on a simulated Windows before sysprep (the `pre-sysprep-state` guest
// fault, faults.ts); servicing.ts applies them.
import { z } from 'zod';

/** What a scenario or test can put on a guest before sysprep (the `pre-sysprep-state` guest fault). */
export const PreSysprepStateSchema = z
  .object({
    /** Files Windows replaces at the next boot (PendingFileRenameOperations). */
    pendingFileRenames: z.array(z.string().min(3)).optional(),
    /** Windows Update asks for a reboot (its RebootRequired key). */
    updateRebootRequired: z.boolean().optional(),
    /** An update still installs (TiWorker.exe) for this long from when the guest is first asked. */
    updatesInstallingMs: z.number().int().positive().optional(),
    /** BitLocker (device encryption) on C:. */
    bitlocker: z.boolean().optional(),
    reservedStorage: z.enum(['Enabled', 'Disabled']).optional(),
  })
  .strict();
export type PreSysprepState = z.infer<typeof PreSysprepStateSchema>;
