// The guest part of a lab scenario: which VMs hold an already installed Windows (with which administrator),
// validated here because the XAPI lab passes `guests` and `faults.guest` through untouched.
import { z } from 'zod';
import { SecretRefSchema } from '../../contracts/secretRef.js';
import { InvalidInputError } from '../../errors.js';
import { GuestFaultListSchema, type GuestFault } from './faults.js';
import { CATALOGS } from './windows/updates.js';

export const PreinstalledWindowsSchema = z
  .object({
    /** The VM's name_label in the scenario. */
    vm: z.string().min(1),
    computerName: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,15}$/)
      .default('WIN-LAB'),
    image: z.string().min(1).default('Windows Server 2022 Standard Evaluation'),
    firmware: z.enum(['bios', 'uefi']).default('bios'),
    /** The built-in Administrator's password; generated (and printed in the ready line) when absent. */
    adminPassword: SecretRefSchema.optional(),
    winrm: z
      .object({ transport: z.enum(['http', 'https']).default('http') })
      .strict()
      .default({ transport: 'http' }),
    pvTools: z.boolean().default(true),
  })
  .strict();

export const GuestScenarioSchema = z
  .object({
    windows: z.array(PreinstalledWindowsSchema).default([]),
    /** The update service's catalog every guest of the scenario sees (a name in windows/updates.ts CATALOGS). */
    updateCatalog: z
      .string()
      .refine((c) => Object.hasOwn(CATALOGS, c), { message: `an update catalog: ${Object.keys(CATALOGS).join(', ')}` })
      .default('default'),
  })
  .strict();

export type PreinstalledWindows = z.infer<typeof PreinstalledWindowsSchema>;
export type GuestScenario = z.infer<typeof GuestScenarioSchema>;

export function parseGuestScenario(guests: unknown, faults: unknown): { guests: GuestScenario; faults: GuestFault[] } {
  const g = GuestScenarioSchema.safeParse(guests ?? {});
  const f = GuestFaultListSchema.safeParse(faults ?? []);
  const problems = [
    ...(g.success ? [] : g.error.issues.map((i) => `guests.${i.path.join('.')}: ${i.message}`)),
    ...(f.success ? [] : f.error.issues.map((i) => `faults.guest.${i.path.join('.')}: ${i.message}`)),
  ];
  if (problems.length) throw new InvalidInputError(`invalid guest scenario: ${problems.join('; ')}`, { problems });
  return { guests: g.data!, faults: f.data! };
}
