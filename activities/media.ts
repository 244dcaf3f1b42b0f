// The answer media of a Windows build: Autounattend.xml (with the build's generated built-in Administrator
// password, derived on whichever worker runs this), first-logon scripts, the WinRM listener certificate and the
// pinned installers, as one ISO that goes straight into a tagged VDI of the pool (built and imported in one
// activity, so no later activity depends on a file of this worker host).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { generatedSecret, type GeneratedSecretRef, SecretRefSchema } from '../src/contracts/secretRef.js';
import { InstallerSourceSchema } from '../src/contracts/installerSource.js';
import { checkInstaller } from '../src/inputs/installers.js';
import { guardedFetch } from '../src/inputs/network.js';
import { buildAnswerMedia, removeAnswerMedia } from '../src/windows/answerMedia.js';
import { importIsoFile } from '../src/xapi/media.js';
import type { Ref } from '../src/xapi/records.js';
import type { ActivityDeps } from './deps.js';
import { BuildIdSchema, onPool, PoolNameSchema } from './pool.js';
import { activity, parse, ProgressReporter, withPoolSlot } from './support.js';

const AnswerMediaRequestSchema = z
  .object({
    pool: PoolNameSchema,
    build: BuildIdSchema,
    /** Disk SR for the ISO's VDI (default: the pool's default SR). */
    sr: z.string().min(1).optional(),
    firmware: z.enum(['bios', 'uefi']),
    image: z.union([
      z.object({ index: z.number().int().min(1) }).strict(),
      z.object({ name: z.string().min(1) }).strict(),
    ]),
    productKey: SecretRefSchema.optional(),
    computerName: z.string().min(1),
    timeZone: z.string().min(1),
    locale: z.string().min(1),
    /** false: HTTPS with a per-build certificate; true: HTTP with Basic on an isolated network. */
    isolatedNetwork: z.boolean(),
    /** Absent: the tools come from the pool's tools ISO, inserted later. */
    pvTools: InstallerSourceSchema.optional(),
    pvToolsKind: z.enum(['xenserver', 'xcp-ng']).optional(),
    windowsUpdateDrivers: z.boolean().optional(),
    cloudbaseInit: InstallerSourceSchema,
  })
  .strict();

export type AnswerMediaRequest = z.input<typeof AnswerMediaRequestSchema>;

const InstallersSchema = z
  .object({ pvTools: InstallerSourceSchema.optional(), cloudbaseInit: InstallerSourceSchema })
  .strict();

export interface PreparedAnswerMedia {
  /** The VDI holding the ISO, for the second CD drive. */
  vdi: Ref;
  reused: boolean;
  volumeLabel: string;
  /** The built-in Administrator's generated password, by reference (derived from the build key). */
  adminPassword: GeneratedSecretRef;
  winrm: { https: boolean; port: number; certificatePem: string | null };
}

/** A file name for the build's media: the identity may hold characters a file name should not. */
function mediaFileName(build: string): string {
  return `answer-${createHash('sha256').update(build).digest('hex').slice(0, 32)}`;
}

export function mediaActivities(deps: ActivityDeps) {
  // Installer URLs connect only where the input policy allows; downloads are capped like local installers.
  const artifacts = { fetch: guardedFetch(deps.inputs), maxBytes: deps.inputs.maxInstallerBytes };
  return {
    /**
     * The build's installers against the input policy, on a worker of the pool that will read them, before the
     * build creates anything: a refused one fails the build typed and non-retryable.
     */
    async checkInstallers(input: z.input<typeof InstallersSchema>): Promise<{ checked: number }> {
      return activity(async () => {
        const i = parse(InstallersSchema, input, 'checkInstallers');
        if (i.pvTools) await checkInstaller(i.pvTools, deps.inputs);
        await checkInstaller(i.cloudbaseInit, deps.inputs);
        return { checked: i.pvTools ? 2 : 1 };
      });
    },

    prepareAnswerMedia: onPool(
      deps,
      'prepareAnswerMedia',
      AnswerMediaRequestSchema,
      async (i, conn, signal): Promise<PreparedAnswerMedia> => {
        const reporter = new ProgressReporter({ phase: 'answer media' });
        try {
          // Derived, never stored: every attempt and every worker of the build makes the same password.
          const adminPassword = generatedSecret('windows-admin', i.build);
          const media = await buildAnswerMedia(
            {
              firmware: i.firmware,
              image: i.image,
              ...(i.productKey ? { productKey: i.productKey } : {}),
              computerName: i.computerName,
              timeZone: i.timeZone,
              uiLanguage: i.locale,
              inputLocale: i.locale,
              systemLocale: i.locale,
              userLocale: i.locale,
              adminPassword,
              winrm: { transport: i.isolatedNetwork ? 'http' : 'https', isolatedNetwork: i.isolatedNetwork },
              // Checked again where they are read, and read by their real paths.
              ...(i.pvTools ? { pvTools: await checkInstaller(i.pvTools, deps.inputs) } : {}),
              ...(i.pvToolsKind ? { pvToolsKind: i.pvToolsKind } : {}),
              windowsUpdateDrivers: i.windowsUpdateDrivers === true,
              cloudbaseInit: { msi: await checkInstaller(i.cloudbaseInit, deps.inputs) },
            },
            {
              stateDir: deps.paths.stateDir,
              buildId: mediaFileName(i.build),
              signal,
              secrets: deps.secrets,
              artifacts,
            },
          );
          try {
            // An import into the pool's SR: one of its `imports` slots.
            const imported = await withPoolSlot(deps.pools.slots, i.pool, 'imports', signal, () => {
              reporter.update({ phase: 'importing the answer ISO' });
              return importIsoFile(conn, i.build, media.isoPath, {
                name: `xenimage-answer-${i.build}.iso`,
                sr: i.sr,
                signal,
                onProgress: (bytes) => reporter.update({ bytesDone: bytes }),
              });
            });
            return {
              vdi: imported.vdi,
              reused: imported.reused,
              volumeLabel: media.volumeLabel,
              adminPassword,
              winrm: { https: media.winrm.https, port: media.winrm.port, certificatePem: media.winrm.certificatePem },
            };
          } finally {
            // It holds the administrator password and the listener key: it lives only in the pool from now on.
            await removeAnswerMedia(media.isoPath);
          }
        } finally {
          await reporter.stop();
        }
      },
    ),
  };
}
