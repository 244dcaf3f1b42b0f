// Activities inside a Windows guest, over WinRM: thin adapters that validate input, resolve secret references
// (late, in the worker), heartbeat while waiting, and leave the work to src/windows/guest. Nothing secret is in
// an input, a result, a command line or an error message.
import path from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import { SecretRefSchema } from '../src/contracts/secretRef.js';
import { InvalidInputError } from '../src/errors.js';
import { log } from '../src/log.js';
import { resolveSecret } from '../src/secrets.js';
import { DEFAULT_VOLUME_LABEL } from '../src/windows/answerMedia.js';
import * as ops from '../src/windows/guest/index.js';
import { activity, withProgress, type ProgressReporter } from './support.js';

export const GuestConnectionSchema = z
  .object({
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    https: z.boolean(),
    /** PEM of the WinRM listener certificate made for this build (pinned). Required with HTTPS. */
    certificatePem: z.string().includes('BEGIN CERTIFICATE').optional(),
    username: z.string().min(1).max(64).default('Administrator'),
    password: SecretRefSchema,
    /** Basic (local accounts) or NTLMv2. */
    auth: z.enum(['basic', 'ntlm']).default('basic'),
  })
  .strict()
  .refine((g) => !g.https || g.certificatePem !== undefined, {
    message: 'HTTPS needs certificatePem (the pinned listener certificate)',
    path: ['certificatePem'],
  });

const seconds = (d: number) => z.number().positive().max(86_400).default(d);
const label = z
  .string()
  .regex(/^[A-Z0-9_]{1,32}$/)
  .default(DEFAULT_VOLUME_LABEL);

export const WaitForWinrmInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
    attemptTimeoutSec: seconds(15),
  })
  .strict();
export const EnsurePvToolsInputSchema = z
  .object({ guest: GuestConnectionSchema, volumeLabel: label, timeoutSec: seconds(1800), pollSec: seconds(10) })
  .strict();
export const AddAdministratorInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    name: z.string().regex(ops.USER_NAME_PATTERN, 'letters, digits, ".", "_" or "-", at most 20'),
    password: SecretRefSchema,
  })
  .strict();
export const InstallCloudbaseInitInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    volumeLabel: label,
    username: z.string().regex(ops.USER_NAME_PATTERN).default('Admin'),
    injectUserPassword: z.boolean().default(true),
    serialPort: z
      .string()
      .regex(/^COM\d$/)
      .optional(),
    runAsLocalSystem: z.boolean().default(true),
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
  })
  .strict();
export const RunSysprepInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    unattendPath: z.string().min(3).optional(),
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
    shutdown: z.boolean().default(true),
  })
  .strict();
export const ApplySysprepRemedyInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    /** `remove-appx`, `reboot`, `none` or `script:<name>` (a PowerShell file in <stateDir>/remedies on the worker). */
    remedy: z.string().min(1),
    /** The failure being remedied (type and details of the typed sysprep failure), for remove-appx's package. */
    failure: z.object({ type: z.string(), details: z.record(z.string(), z.unknown()).optional() }).optional(),
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
  })
  .strict();
export const CollectLogsInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    outputDir: z.string().min(1),
    maxBytesPerFile: z.number().int().positive().optional(),
  })
  .strict();

export type GuestConnection = z.input<typeof GuestConnectionSchema>;

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success)
    throw new InvalidInputError(
      `${what}: ${r.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

async function context(
  raw: z.infer<typeof GuestConnectionSchema>,
  signal: AbortSignal,
  reporter: ProgressReporter,
  pollSec?: number,
): Promise<ops.GuestContext> {
  const password = await resolveSecret(raw.password);
  return {
    guest: {
      address: raw.address,
      port: raw.port,
      https: raw.https,
      certificatePem: raw.certificatePem,
      username: raw.username,
      password,
      auth: raw.auth,
    },
    signal,
    progress: (p) => reporter.update(p),
    log: log().child({ component: 'guest-activity' }),
    pollMs: pollSec !== undefined ? pollSec * 1000 : undefined,
  };
}

export async function waitForWinrm(input: z.input<typeof WaitForWinrmInputSchema>): Promise<ops.WinrmReady> {
  return activity(async (signal) => {
    const i = parse(WaitForWinrmInputSchema, input, 'waitForWinrm');
    return withProgress('waiting for WinRM', async (r) =>
      ops.waitForWinrm(await context(i.guest, signal, r, i.pollSec), i.timeoutSec * 1000, i.attemptTimeoutSec * 1000),
    );
  });
}

export async function ensurePvTools(input: z.input<typeof EnsurePvToolsInputSchema>): Promise<ops.PvToolsResult> {
  return activity(async (signal) => {
    const i = parse(EnsurePvToolsInputSchema, input, 'ensurePvTools');
    return withProgress('PV tools', async (r) =>
      ops.ensurePvTools(await context(i.guest, signal, r, i.pollSec), {
        volumeLabel: i.volumeLabel,
        timeoutMs: i.timeoutSec * 1000,
      }),
    );
  });
}

export async function addAdministrator(
  input: z.input<typeof AddAdministratorInputSchema>,
): Promise<{ name: string; created: boolean }> {
  return activity(async (signal) => {
    const i = parse(AddAdministratorInputSchema, input, 'addAdministrator');
    if (i.name.toLowerCase() === 'administrator')
      throw new InvalidInputError('addAdministrator: the extra account cannot be the built-in Administrator');
    const password = await resolveSecret(i.password);
    return withProgress('administrator', async (r) => ({
      name: i.name,
      ...(await ops.addAdministrator(await context(i.guest, signal, r), { name: i.name, password })),
    }));
  });
}

export async function installCloudbaseInit(
  input: z.input<typeof InstallCloudbaseInitInputSchema>,
): Promise<ops.CloudbaseInitResult> {
  return activity(async (signal) => {
    const i = parse(InstallCloudbaseInitInputSchema, input, 'installCloudbaseInit');
    return withProgress('cloudbase-init', async (r) =>
      ops.installCloudbaseInit(await context(i.guest, signal, r, i.pollSec), {
        volumeLabel: i.volumeLabel,
        username: i.username,
        injectUserPassword: i.injectUserPassword,
        serialPort: i.serialPort,
        runAsLocalSystem: i.runAsLocalSystem,
        timeoutMs: i.timeoutSec * 1000,
      }),
    );
  });
}

export async function runSysprep(input: z.input<typeof RunSysprepInputSchema>): Promise<ops.SysprepResult> {
  return activity(async (signal) => {
    const i = parse(RunSysprepInputSchema, input, 'runSysprep');
    return withProgress('sysprep', async (r) =>
      ops.runSysprep(await context(i.guest, signal, r, i.pollSec), {
        unattendPath: i.unattendPath,
        timeoutMs: i.timeoutSec * 1000,
        shutdown: i.shutdown,
      }),
    );
  });
}

export async function collectLogs(
  input: z.input<typeof CollectLogsInputSchema>,
): Promise<{ files: Array<Omit<ops.CollectedLog, 'tail'> & { tail: string[] }>; missing: string[] }> {
  return activity(async (signal) => {
    const i = parse(CollectLogsInputSchema, input, 'collectLogs');
    return withProgress('collecting logs', async (r) =>
      ops.collectLogs(await context(i.guest, signal, r), { outputDir: i.outputDir, maxBytes: i.maxBytesPerFile }),
    );
  });
}

/** Applies a remedy before the next sysprep attempt (after the revert), e.g. removing the AppX package Panther named. */
export async function applySysprepRemedy(
  input: z.input<typeof ApplySysprepRemedyInputSchema>,
): Promise<{ applied: string }> {
  return activity(async (signal) => {
    const i = parse(ApplySysprepRemedyInputSchema, input, 'applySysprepRemedy');
    const remedy = ops.parseRemedy(i.remedy, i.failure);
    return withProgress(`remedy ${ops.describeRemedy(remedy)}`, async (r) => {
      await ops.applyRemedy(await context(i.guest, signal, r, i.pollSec), remedy, {
        remediesDir: path.resolve(loadConfig().stateDir, 'remedies'),
        timeoutMs: i.timeoutSec * 1000,
      });
      return { applied: ops.describeRemedy(remedy) };
    });
  });
}
