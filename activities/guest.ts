// Activities inside a Windows guest, over WinRM: thin adapters that validate input, resolve secret references
// (late, in the worker), heartbeat while waiting, and leave the work to src/windows/guest. Nothing secret is in
// an input, a result, a command line or an error message.
import { z } from 'zod';
import { AnySecretRefSchema, SecretRefSchema } from '../src/contracts/secretRef.js';
import {
  GuestRemoteAccessSchema,
  HOOK_POINTS,
  HooksSchema,
  type HookRunRecord,
} from '../src/contracts/windowsGuestInput.js';
import { KbIdSchema, UPDATE_CLASSIFICATIONS } from '../src/contracts/windowsUpdatesInput.js';
import { InvalidInputError } from '../src/errors.js';
import { scrubKnownSecrets } from '../src/log.js';
import { DEFAULT_VOLUME_LABEL } from '../src/windows/answerMedia.js';
import * as ops from '../src/windows/guest/index.js';
import { waitForGuest } from '../src/xapi/power.js';
import type { ActivityDeps } from './deps.js';
import { PoolNameSchema, RefSchema } from './pool.js';
import { activity, parse, withProgress, type ProgressReporter } from './support.js';

const GuestConnectionSchema = z
  .object({
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    https: z.boolean(),
    /** PEM of the WinRM listener certificate made for this build (pinned). Required with HTTPS. */
    certificatePem: z.string().includes('BEGIN CERTIFICATE').optional(),
    username: z.string().min(1).max(64).default('Administrator'),
    /** The build's generated password ({generated, build}) or a configured build-input secret. */
    password: AnySecretRefSchema,
    /** Basic (local accounts) or NTLMv2. */
    auth: z.enum(['basic', 'ntlm']).default('basic'),
    /** The build VM: after a reboot the guest's new address is read from its agent's report there. */
    locate: z.object({ pool: PoolNameSchema, vm: RefSchema }).strict().optional(),
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

const WaitForWinrmInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
    attemptTimeoutSec: seconds(15),
  })
  .strict();
const EnsurePvToolsInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    volumeLabel: label,
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
    /** XenServer VM Tools: driver updates through Windows Update (ALLOWDRIVERUPDATE=YES). */
    windowsUpdateDrivers: z.boolean().optional(),
  })
  .strict();
const AddAdministratorInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    name: z.string().regex(ops.USER_NAME_PATTERN, 'letters, digits, ".", "_" or "-", at most 20'),
    password: SecretRefSchema,
  })
  .strict();
const InstallCloudbaseInitInputSchema = z
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
const RunSysprepInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    unattendPath: z.string().min(3).optional(),
    timeoutSec: seconds(1800),
    pollSec: seconds(10),
    shutdown: z.boolean().default(true),
  })
  .strict();
const ApplySysprepRemedyInputSchema = z
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
const CollectLogsInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    /** Last lines kept per file. */
    maxLines: z.number().int().min(1).max(10_000).default(200),
    /** Bytes kept over all files (what is left of the build's log budget). */
    maxBytes: z.number().int().min(0).max(1_048_576).default(65_536),
    /** The build's input secrets: their values are scrubbed from the logs (the guest password always is). */
    scrub: z.array(SecretRefSchema).max(16).default([]),
  })
  .strict();
const ShutdownGuestInputSchema = z.object({ guest: GuestConnectionSchema }).strict();
const PreSysprepChecksInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    mode: z.enum(['fix', 'report']),
    /** Bound of each wait (an update installing, the reboot, the decryption). */
    timeoutSec: seconds(3600),
    pollSec: seconds(10),
  })
  .strict();
const CheckHooksInputSchema = z.object({ hooks: HooksSchema }).strict();
const RunHooksInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    point: z.enum(HOOK_POINTS),
    names: z.array(z.string().min(1)).min(1).max(16),
    /** The build's input secrets: their values are scrubbed from the hooks' output. */
    scrub: z.array(SecretRefSchema).max(16).default([]),
  })
  .strict();
const CleanImageInputSchema = z
  .object({ guest: GuestConnectionSchema, remoteAccess: GuestRemoteAccessSchema })
  .strict();

const GuestOnlyInputSchema = z.object({ guest: GuestConnectionSchema }).strict();

const UpdateRoundInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    /** 1-based: names the round's task and result file, so a retry finds the round it started. */
    round: z.number().int().min(1).max(20),
    exclude: z.array(KbIdSchema).max(200).default([]),
    categories: z.array(z.enum(UPDATE_CLASSIFICATIONS)).min(1).optional(),
    /** The round and the restart after it (what is left of timeouts.updates). */
    timeoutSec: seconds(14_400),
    pollSec: seconds(10),
  })
  .strict();
const ComponentCleanupInputSchema = z
  .object({
    guest: GuestConnectionSchema,
    /** DISM /StartComponentCleanup; without it only the rounds' files are removed. */
    dism: z.boolean().default(true),
    resetBase: z.boolean(),
    timeoutSec: seconds(7200),
    pollSec: seconds(10),
  })
  .strict();

export type GuestConnection = z.input<typeof GuestConnectionSchema>;

export function guestActivities(deps: ActivityDeps) {
  /** The guest operations' context: the resolved password, the cancellation signal, heartbeats, the logger. */
  async function context(
    raw: z.infer<typeof GuestConnectionSchema>,
    signal: AbortSignal,
    reporter: ProgressReporter,
    pollSec?: number,
  ): Promise<ops.GuestContext> {
    const password = await deps.secrets.resolveAny(raw.password, 'build-input');
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
      log: deps.logger.child({ component: 'guest-activity' }),
      pollMs: pollSec !== undefined ? pollSec * 1000 : undefined,
      ...(raw.locate ? { relocate: await relocator(raw.locate, signal) } : {}),
    };
  }

  /** Reads the guest's address from the agent's first report of each new boot (addresses move at every boot). */
  async function relocator(
    where: { pool: string; vm: string },
    signal: AbortSignal,
  ): Promise<(timeoutMs: number) => Promise<string>> {
    const conn = await deps.pools.get(where.pool);
    let boot = (await conn.fetch('VM', where.vm)).domid;
    return async (timeoutMs) => {
      const report = await waitForGuest(conn, where.vm, {
        timeoutMs,
        otherThanDomid: boot,
        signal,
        what: 'the guest agent to report an address after the reboot',
      });
      boot = report.domid;
      return report.ip;
    };
  }

  return {
    async waitForWinrm(input: z.input<typeof WaitForWinrmInputSchema>): Promise<ops.WinrmReady> {
      return activity(async (signal) => {
        const i = parse(WaitForWinrmInputSchema, input, 'waitForWinrm');
        return withProgress('waiting for WinRM', async (r) =>
          ops.waitForWinrm(
            await context(i.guest, signal, r, i.pollSec),
            i.timeoutSec * 1000,
            i.attemptTimeoutSec * 1000,
          ),
        );
      });
    },

    /** The tools, installed and running; `address` is where the guest is afterwards (a reboot may move it). */
    async ensurePvTools(
      input: z.input<typeof EnsurePvToolsInputSchema>,
    ): Promise<ops.PvToolsResult & { address: string }> {
      return activity(async (signal) => {
        const i = parse(EnsurePvToolsInputSchema, input, 'ensurePvTools');
        return withProgress('PV tools', async (r) => {
          const ctx = await context(i.guest, signal, r, i.pollSec);
          const result = await ops.ensurePvTools(ctx, {
            volumeLabel: i.volumeLabel,
            timeoutMs: i.timeoutSec * 1000,
            windowsUpdateDrivers: i.windowsUpdateDrivers === true,
          });
          return { ...result, address: ctx.guest.address };
        });
      });
    },

    async addAdministrator(
      input: z.input<typeof AddAdministratorInputSchema>,
    ): Promise<{ name: string; created: boolean }> {
      return activity(async (signal) => {
        const i = parse(AddAdministratorInputSchema, input, 'addAdministrator');
        if (i.name.toLowerCase() === 'administrator')
          throw new InvalidInputError('addAdministrator: the extra account cannot be the built-in Administrator');
        const password = await deps.secrets.resolve(i.password, 'build-input');
        return withProgress('administrator', async (r) => ({
          name: i.name,
          ...(await ops.addAdministrator(await context(i.guest, signal, r), { name: i.name, password })),
        }));
      });
    },

    async installCloudbaseInit(
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
    },

    /** Sysprep, proved by ImageState and the tag file; with `shutdown: false` the guest stays up (logs first). */
    async runSysprep(input: z.input<typeof RunSysprepInputSchema>): Promise<ops.SysprepResult> {
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
    },

    /** Shuts the (generalized) guest down from inside; the workflow then waits for the halt. */
    async shutdownGuest(input: z.input<typeof ShutdownGuestInputSchema>): Promise<{ issued: boolean }> {
      return activity(async (signal) => {
        const i = parse(ShutdownGuestInputSchema, input, 'shutdownGuest');
        return withProgress('shutdown', async (r) => ({
          issued: await ops.issueShutdown(await context(i.guest, signal, r)),
        }));
      });
    },

    /** Every hook the input names exists in the hook folders (HookMissing, non-retryable, before anything is made). */
    async checkHooks(input: z.input<typeof CheckHooksInputSchema>): Promise<{ found: string[] }> {
      return activity(async () => {
        const i = parse(CheckHooksInputSchema, input, 'checkHooks');
        const names = [...new Set(HOOK_POINTS.flatMap((p) => i.hooks[p] ?? []))];
        for (const name of names) await ops.findHook(deps.paths.hookDirs, name);
        return { found: names };
      });
    },

    /** Runs the hooks of one point in order; the first that fails stops the build (HookFailed with its last lines). */
    async runHooks(input: z.input<typeof RunHooksInputSchema>): Promise<{ runs: HookRunRecord[] }> {
      return activity(async (signal) => {
        const i = parse(RunHooksInputSchema, input, 'runHooks');
        // Resolving registers the values with the scrubber, whichever worker resolved them first.
        for (const ref of i.scrub) await deps.secrets.resolve(ref, 'build-input');
        const files: Array<{ name: string; file: string }> = [];
        for (const name of i.names) files.push({ name, file: await ops.findHook(deps.paths.hookDirs, name) });
        return withProgress(`hooks ${i.point}`, async (r) => {
          const ctx = await context(i.guest, signal, r);
          const runs: HookRunRecord[] = [];
          for (const f of files) {
            r.update({ hook: f.name });
            runs.push(await ops.runHook(ctx, { point: i.point, ...f, scrub: scrubKnownSecrets }));
          }
          return { runs };
        });
      });
    },

    /** The states behind the common sysprep failures, found (and with `fix` remedied) before the first attempt. */
    async preSysprepChecks(
      input: z.input<typeof PreSysprepChecksInputSchema>,
    ): Promise<{ checks: ops.CheckOutcome[]; address: string }> {
      return activity(async (signal) => {
        const i = parse(PreSysprepChecksInputSchema, input, 'preSysprepChecks');
        return withProgress('pre-sysprep checks', async (r) => {
          const ctx = await context(i.guest, signal, r, i.pollSec);
          const checks = await ops.preSysprepChecks(ctx, { mode: i.mode, timeoutMs: i.timeoutSec * 1000 });
          // A pending reboot done here may have moved the guest.
          return { checks, address: ctx.guest.address };
        });
      });
    },

    /** Before the pre-sysprep snapshot: Setup's cached answer files, first-logon leftovers, the token filter policy. */
    async removeBuildFiles(input: z.input<typeof CleanImageInputSchema>): Promise<{ removed: string[] }> {
      return activity(async (signal) => {
        const i = parse(CleanImageInputSchema, input, 'removeBuildFiles');
        return withProgress('removing the build files', async (r) => ({
          removed: await ops.removeBuildFiles(await context(i.guest, signal, r), i.remoteAccess),
        }));
      });
    },

    /**
     * Before the pre-sysprep snapshot: temp folders, Windows Update's download cache and old CBS logs
     * (docs/decisions/windows-0010-smaller-images.md).
     */
    async clearCaches(input: z.input<typeof GuestOnlyInputSchema>): Promise<{ cleared: string[] }> {
      return activity(async (signal) => {
        const i = parse(GuestOnlyInputSchema, input, 'clearCaches');
        return withProgress('clearing caches and logs', async (r) => ({
          cleared: await ops.clearCaches(await context(i.guest, signal, r)),
        }));
      });
    },

    /**
     * The guest's last command: its WinRM listeners, Basic auth, AllowUnencrypted, the listener certificate and key
     * and the build's firewall rules go, then it shuts down (detached: WinRM stops answering). The workflow waits for
     * the halt.
     */
    async sealGuest(
      input: z.input<typeof CleanImageInputSchema>,
    ): Promise<{ launched: true; removesCertificate: boolean }> {
      return activity(async (signal) => {
        const i = parse(CleanImageInputSchema, input, 'sealGuest');
        return withProgress('sealing the image', async (r) => {
          const sealed = await ops.sealAndShutDown(await context(i.guest, signal, r), {
            remoteAccess: i.remoteAccess,
            certificatePem: i.guest.certificatePem,
          });
          return { launched: true as const, removesCertificate: sealed.thumbprint !== null };
        });
      });
    },

    /** The tails of the guest's build logs, bounded and scrubbed of the build's secrets, for the build's progress. */
    async collectLogs(
      input: z.input<typeof CollectLogsInputSchema>,
    ): Promise<ops.CollectedLogs & { collectedAt: string }> {
      return activity(async (signal) => {
        const i = parse(CollectLogsInputSchema, input, 'collectLogs');
        // Resolving registers the values with the scrubber, whichever worker resolved them first.
        for (const ref of i.scrub) await deps.secrets.resolve(ref, 'build-input');
        return withProgress('collecting logs', async (r) => ({
          ...(await ops.collectLogs(await context(i.guest, signal, r), {
            maxLines: i.maxLines,
            maxBytes: i.maxBytes,
            scrub: scrubKnownSecrets,
          })),
          collectedAt: deps.clock.now().toISOString(),
        }));
      });
    },

    /**
     * One Windows Update round (search → download → install, as SYSTEM through a scheduled task) and the restart
     * it needs; `address` is where the guest is afterwards (docs/decisions/windows-0009-windows-update.md).
     */
    async updateRound(
      input: z.input<typeof UpdateRoundInputSchema>,
    ): Promise<ops.UpdateRoundResult & { address: string }> {
      return activity(async (signal) => {
        const i = parse(UpdateRoundInputSchema, input, 'updateRound');
        return withProgress(`Windows Update round ${i.round}`, async (r) => {
          const ctx = await context(i.guest, signal, r, i.pollSec);
          const result = await ops.updateRound(ctx, {
            round: i.round,
            exclude: i.exclude,
            categories: i.categories,
            timeoutMs: i.timeoutSec * 1000,
            rebootTimeoutMs: i.timeoutSec * 1000,
          });
          return { ...result, address: ctx.guest.address };
        });
      });
    },

    /** After the last update round: DISM /StartComponentCleanup (optionally /ResetBase), the rounds' files removed. */
    async componentCleanup(input: z.input<typeof ComponentCleanupInputSchema>): Promise<ops.ComponentCleanupResult> {
      return activity(async (signal) => {
        const i = parse(ComponentCleanupInputSchema, input, 'componentCleanup');
        return withProgress('component store clean-up', async (r) =>
          ops.componentCleanup(await context(i.guest, signal, r, i.pollSec), {
            dism: i.dism,
            resetBase: i.resetBase,
            timeoutMs: i.timeoutSec * 1000,
          }),
        );
      });
    },

    /** Applies a remedy before the next sysprep attempt (after the revert), e.g. removing the AppX package Panther named. */
    async applySysprepRemedy(
      input: z.input<typeof ApplySysprepRemedyInputSchema>,
    ): Promise<{ applied: string; address: string }> {
      return activity(async (signal) => {
        const i = parse(ApplySysprepRemedyInputSchema, input, 'applySysprepRemedy');
        const remedy = ops.parseRemedy(i.remedy, i.failure);
        return withProgress(`remedy ${ops.describeRemedy(remedy)}`, async (r) => {
          const ctx = await context(i.guest, signal, r, i.pollSec);
          await ops.applyRemedy(ctx, remedy, { remediesDir: deps.paths.remediesDir, timeoutMs: i.timeoutSec * 1000 });
          // A reboot remedy may have moved the guest.
          return { applied: ops.describeRemedy(remedy), address: ctx.guest.address };
        });
      });
    },
  };
}
