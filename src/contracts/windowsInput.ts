// Input of the windowsImage workflow: one JSON object, as an operator pastes it into the Temporal UI's Start
// Workflow form. Everything an operator should not have to type has a default; secrets are references.
import { z } from 'zod';
import { DurationSchema } from './duration.js';
import { CloudNameSchema, ImageSpecSchema } from './imageSpec.js';
import { InstallerSourceSchema } from './installerSource.js';
import { PvToolsInputSchema } from './pvToolsInput.js';
import { SecretRefSchema } from './secretRef.js';
import { DEFAULT_TUNING, TuningSchema } from './tuning.js';
import { choiceConflicts, WindowsReleaseSchema } from './windowsPlatform.js';
import { windowsGuestInputFields } from './windowsGuestInput.js';
import { windowsUpdatesInputFields } from './windowsUpdatesInput.js';

/** Local account names Windows accepts (≤ 20 characters, no punctuation cmd.exe would interpret). */
export const WindowsUserNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,20}$/, 'letters, digits, ".", "_" or "-", at most 20');

export const WindowsImageInputSchema = z
  .object({
    /** XenServer pool, by the name of its entry in the pools file. */
    pool: z.string().min(1),
    /** Storage repository for the system disk (name_label); default: the pool's default SR. */
    sr: z.string().min(1).optional(),
    /** Network for the VIF (name_label); default: the pool's first network with a physical interface. */
    network: z.string().min(1).optional(),
    /** The Windows install ISO, by its name in an ISO SR. */
    installIso: z.string().min(1),
    windows: z
      .object({
        /** Image in install.wim, by index (1-based) or by name; default index 1. */
        imageIndex: z.number().int().min(1).max(64).optional(),
        imageName: z.string().min(1).optional(),
        productKey: SecretRefSchema.optional(),
        locale: z
          .string()
          .regex(/^[a-z]{2,3}-[A-Z]{2}$/, 'a locale such as en-US')
          .default('en-US'),
        timeZone: z.string().min(1).default('UTC'),
        firmware: z.enum(['bios', 'uefi']).default('bios'),
        /** platform:secureboot (UEFI only); Windows 11 needs it. */
        secureBoot: z.boolean().optional(),
        /** The release being installed; default: read from imageName, then from the ISO's name. */
        release: WindowsReleaseSchema.optional(),
        computerName: z
          .string()
          .regex(/^[A-Za-z0-9-]{1,15}$/, 'a NetBIOS name, at most 15 letters, digits or "-"')
          .default('XENIMAGE'),
      })
      .strict()
      .refine(
        (w) => !(w.imageIndex !== undefined && w.imageName !== undefined),
        'give imageIndex or imageName, not both',
      )
      .default({ locale: 'en-US', timeZone: 'UTC', firmware: 'bios', computerName: 'XENIMAGE' }),
    vm: z
      .object({
        memoryMiB: z.number().int().min(1024).max(1_048_576).default(4096),
        vcpus: z.number().int().min(1).max(64).default(2),
        diskGiB: z.number().int().min(16).max(2040).default(40),
        /** A VTPM on the build VM (UEFI only); Windows 11 needs it. */
        vtpm: z.boolean().optional(),
        /** platform:device_id after the PV tools: remove it (default, nova's 0001), keep it, or set 0002. */
        deviceId: z.enum(['remove', 'keep', '0002']).optional(),
      })
      .strict()
      .default({ memoryMiB: 4096, vcpus: 2, diskGiB: 40 }),
    administrator: z
      .object({
        name: WindowsUserNameSchema.refine(
          (n) => n.toLowerCase() !== 'administrator',
          'the extra account cannot be the built-in Administrator',
        ),
        password: SecretRefSchema,
      })
      .strict(),
    /** The PV tools installer; without one, the tools ISO of the pool (src/contracts/pvToolsInput.ts). */
    pvTools: PvToolsInputSchema,
    cloudbaseInit: InstallerSourceSchema,
    winrm: z
      .object({
        /** HTTP with Basic auth is allowed only on an isolated build network. */
        isolatedNetwork: z.boolean().default(false),
      })
      .strict()
      .default({ isolatedNetwork: false }),
    sysprep: z
      .object({
        maxAttempts: z.number().int().min(1).max(10).default(3),
        /** On a failure no remedy is known for: wait for the operator's retrySysprep/abandon, or fail at once. */
        onUnknownFailure: z.enum(['wait', 'fail']).default('wait'),
        /** How long to wait for the operator before giving up (and cleaning up). */
        operatorTimeout: DurationSchema.default('24h'),
      })
      .strict()
      .default({ maxAttempts: 3, onUnknownFailure: 'wait', operatorTimeout: '24h' }),
    timeouts: z
      .object({
        /** Windows Setup up to the guest agent reporting an IP and PV drivers. */
        install: DurationSchema.default('3h'),
        /** One sysprep run; a run still going after this is killed and counts as hung. */
        sysprep: DurationSchema.default('30m'),
        /** From a successful sysprep to the VM being halted. */
        halt: DurationSchema.default('1h'),
        /** A clean shutdown of the build VM (the restart that applies the platform:device_id removal). */
        shutdown: DurationSchema.default('10m'),
        /** Every Windows Update round together; no round starts after it, the running one is awaited up to it. */
        updates: DurationSchema.default('4h'),
      })
      .strict()
      .default({ install: '3h', sysprep: '30m', halt: '1h', shutdown: '10m', updates: '4h' }),
    image: ImageSpecSchema,
    cloud: CloudNameSchema,
    keepOnFailure: z.boolean().default(false),
    ...windowsGuestInputFields,
    ...windowsUpdatesInputFields,
    tuning: TuningSchema.default(DEFAULT_TUNING),
  })
  .strict()
  .superRefine((i, ctx) => {
    const choice = {
      firmware: i.windows.firmware,
      secureBoot: i.windows.secureBoot === true,
      vtpm: i.vm.vtpm === true,
    };
    for (const message of choiceConflicts(choice)) ctx.addIssue({ code: 'custom', path: ['windows'], message });
  });

export type WindowsImageInput = z.input<typeof WindowsImageInputSchema>;
export type WindowsImageParams = z.infer<typeof WindowsImageInputSchema>;
