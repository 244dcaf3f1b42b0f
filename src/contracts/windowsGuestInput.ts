// The Windows build's guest options (what the image keeps, checks before sysprep, operator hooks): fields of the
// windowsImage input (windowsInput.ts), in their own module.
import { z } from 'zod';

/** Remote access the image keeps for its operator; the build's own (listener, key, rules) never ships. */
export const GuestRemoteAccessSchema = z.enum(['none', 'winrm-https']);

/**
 * Before the first sysprep attempt: checks (fix what they find, only report it, or skip them), and whether the temp
 * folders, Windows Update's download cache and CBS logs are cleared before the pre-sysprep snapshot
 * (docs/decisions/windows-0010-smaller-images.md).
 */
export const PreSysprepSchema = z
  .object({ checks: z.enum(['fix', 'report', 'off']).default('fix'), clearCaches: z.boolean().default(true) })
  .strict()
  .default({ checks: 'fix', clearCaches: true });

/** A hook script's name: <name>.ps1 in one of the configured hook folders. */
export const HOOK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const HOOK_POINTS = ['afterInstall', 'beforeCloudbaseInit', 'beforeSysprep'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

const hookNames = z
  .array(z.string().regex(HOOK_NAME, 'a hook name: letters, digits, ".", "_" or "-" (the script is <name>.ps1)'))
  .max(16)
  .optional();

/** Operators' PowerShell scripts, by name, run in the guest at three points of the build. */
export const HooksSchema = z
  .object({ afterInstall: hookNames, beforeCloudbaseInit: hookNames, beforeSysprep: hookNames })
  .strict()
  .default({});

/** One hook that ran: its exit code and the last lines of its output (scrubbed of the build's secrets). */
export interface HookRunRecord {
  point: HookPoint;
  name: string;
  exitCode: number;
  lines: string[];
  elapsedMs: number;
}

export const windowsGuestInputFields = {
  guestRemoteAccess: GuestRemoteAccessSchema.default('none'),
  preSysprep: PreSysprepSchema,
  hooks: HooksSchema,
};
