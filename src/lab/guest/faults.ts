// Faults a simulated Windows can be told to produce, from a scenario's `faults.guest` list or injected by a
// test at run time. Each names what real Windows would return (docs/reference/windows.md §8).
import { z } from 'zod';
import { PreSysprepStateSchema } from './windows/preSysprepState.js';

const vm = z.string().min(1).optional().describe('VM name_label or ref; all Windows guests when absent');
const times = z.number().int().positive().default(1);

export const GuestFaultSchema = z.discriminatedUnion('kind', [
  /** msiexec ends with this exit code (1603 fatal error, 1618 another installation in progress). */
  z
    .object({
      kind: z.literal('msi-exit'),
      vm,
      msi: z.string().min(1).default('*'),
      code: z.union([z.literal(1603), z.literal(1618)]),
      times,
    })
    .strict(),
  /** The next account creation fails the password policy (NET HELPMSG 2245 / InvalidPasswordException). */
  z.object({ kind: z.literal('password-policy'), vm, times }).strict(),
  /** WinRM requests of this operation get no answer at all (the client's request timeout must fire). */
  z
    .object({
      kind: z.literal('winrm-timeout'),
      vm,
      operation: z.enum(['Create', 'Command', 'Receive', 'Send', 'Signal', 'Delete', 'any']).default('any'),
      times,
    })
    .strict(),
  /** WinRM answers HTTP 401 as if the credentials were wrong. */
  z.object({ kind: z.literal('winrm-401'), vm, times }).strict(),
  /** The VM resets while a command whose command line contains `match` runs. */
  z.object({ kind: z.literal('reset-during-command'), vm, match: z.string().min(1), times }).strict(),
  /** An AppX package installed for a user but not provisioned: sysprep fails with 0x80073cf2 until it is removed. */
  z
    .object({
      kind: z.literal('sysprep-appx'),
      vm,
      package: z.string().min(3).default('Microsoft.MicrosoftEdge.Stable_120.0.2210.91_neutral__8wekyb3d8bbwe'),
      user: z.string().min(1).default('Administrator'),
    })
    .strict(),
  /** Servicing pending / reserved storage in use: sysprep fails with 0x800F0975 until the next reboot. */
  z.object({ kind: z.literal('sysprep-reserved-storage'), vm }).strict(),
  /** Servicing and volume states the pre-sysprep checks find (pending reboot, updates installing, BitLocker…). */
  z.object({ kind: z.literal('pre-sysprep-state'), vm, state: PreSysprepStateSchema }).strict(),
  /** sysprep.exe never finishes (a dialog in session 0). */
  z.object({ kind: z.literal('sysprep-hang'), vm, times }).strict(),
]);

export type GuestFault = z.infer<typeof GuestFaultSchema>;
export type GuestFaultInput = z.input<typeof GuestFaultSchema>;

export const GuestFaultListSchema = z.array(GuestFaultSchema);

/** The faults still armed for one guest; counted ones disarm after `times` uses. */
export class FaultBook {
  private readonly faults: Array<GuestFault & { left: number }> = [];

  add(fault: GuestFault): void {
    this.faults.push({ ...fault, left: 'times' in fault ? fault.times : Number.POSITIVE_INFINITY });
  }

  /** Uses one armed fault of this kind that satisfies `match`, or returns undefined. */
  take<K extends GuestFault['kind']>(
    kind: K,
    match: (f: Extract<GuestFault, { kind: K }>) => boolean = () => true,
  ): Extract<GuestFault, { kind: K }> | undefined {
    const i = this.faults.findIndex(
      (f) => f.kind === kind && f.left > 0 && match(f as unknown as Extract<GuestFault, { kind: K }>),
    );
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.left -= 1;
    if (f.left <= 0) this.faults.splice(i, 1);
    return f as unknown as Extract<GuestFault, { kind: K }>;
  }

  /** Removes and returns every fault of this kind (state faults applied once to the disk). */
  drain<K extends GuestFault['kind']>(kind: K): Array<Extract<GuestFault, { kind: K }>> {
    const hits = this.faults.filter((f) => f.kind === kind);
    for (const h of hits) this.faults.splice(this.faults.indexOf(h), 1);
    return hits as unknown as Array<Extract<GuestFault, { kind: K }>>;
  }
}
