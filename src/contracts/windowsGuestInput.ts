// The Windows build's guest options (what the image keeps, checks before sysprep, operator hooks): fields of the
// windowsImage input (windowsInput.ts), in their own module.
import { z } from 'zod';

/** Remote access the image keeps for its operator; the build's own (listener, key, rules) never ships. */
export const GuestRemoteAccessSchema = z.enum(['none', 'winrm-https']);

export const windowsGuestInputFields = {
  guestRemoteAccess: GuestRemoteAccessSchema.default('none'),
};
