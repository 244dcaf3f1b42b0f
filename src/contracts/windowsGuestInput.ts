// The Windows build's guest options (what the image keeps, checks before sysprep, operator hooks): fields of the
// windowsImage input (windowsInput.ts), in their own module.
import { z } from 'zod';

/** Remote access the image keeps for its operator; the build's own (listener, key, rules) never ships. */
export const GuestRemoteAccessSchema = z.enum(['none', 'winrm-https']);

/** Checks before the first sysprep attempt: fix what they find, only report it, or skip them. */
export const PreSysprepSchema = z
  .object({ checks: z.enum(['fix', 'report', 'off']).default('fix') })
  .strict()
  .default({ checks: 'fix' });

export const windowsGuestInputFields = {
  guestRemoteAccess: GuestRemoteAccessSchema.default('none'),
  preSysprep: PreSysprepSchema,
};
