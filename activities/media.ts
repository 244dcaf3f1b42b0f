// The answer media of a Windows build: a generated built-in Administrator password (a secret file, referenced,
// never returned), Autounattend.xml and first-logon scripts, the WinRM listener certificate and the pinned
// installers, as one ISO that goes straight into a tagged VDI of the pool (built and imported in one activity,
// so no later activity depends on a file of this worker host). Also the secret checks and cleanup of a build.
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import type { SecretRef } from '../src/contracts/secretRef.js';
import type { InstallerSource } from '../src/contracts/installerSource.js';
import { assertSecretExists, resolveSecret } from '../src/secrets.js';
import { buildAnswerMedia, removeAnswerMedia } from '../src/windows/answerMedia.js';
import { createBuildAdminPassword, removeBuildAdminPassword } from '../src/windows/adminPassword.js';
import { importIsoFile } from '../src/xapi/media.js';
import type { Ref } from '../src/xapi/records.js';
import { activity, buildId, ProgressReporter } from './support.js';
import { withPool } from './xen.js';

function stateDir(): string {
  return path.resolve(loadConfig().stateDir);
}

function secretsDir(): string {
  return path.resolve(process.env.XENIMAGE_SECRETS_DIR ?? path.join(stateDir(), 'secrets'));
}

/** The name of the generated built-in Administrator password of a build. */
function adminSecret(id: string): SecretRef {
  return { secret: `${id}.windows-admin` };
}

/** Checks that every secret reference resolves on this worker (values are read and dropped, never returned). */
export async function checkSecrets(input: { refs: SecretRef[] }): Promise<{ checked: string[] }> {
  return activity(async () => {
    for (const ref of input.refs) await assertSecretExists(ref);
    return { checked: input.refs.map((r) => r.secret) };
  });
}

export interface AnswerMediaRequest {
  pool: string;
  /** Disk SR for the ISO's VDI (default: the pool's default SR). */
  sr?: string;
  firmware: 'bios' | 'uefi';
  image: { index: number } | { name: string };
  productKey?: SecretRef;
  computerName: string;
  timeZone: string;
  locale: string;
  /** false: HTTPS with a per-build certificate; true: HTTP with Basic on an isolated network. */
  isolatedNetwork: boolean;
  pvTools: InstallerSource;
  cloudbaseInit: InstallerSource;
}

export interface PreparedAnswerMedia {
  /** The VDI holding the ISO, for the second CD drive. */
  vdi: Ref;
  reused: boolean;
  volumeLabel: string;
  /** The built-in Administrator's generated password, by reference. */
  adminPassword: SecretRef;
  winrm: { https: boolean; port: number; certificatePem: string | null };
}

export async function prepareAnswerMedia(input: AnswerMediaRequest): Promise<PreparedAnswerMedia> {
  return activity(async (signal) => {
    const id = buildId();
    const reporter = new ProgressReporter({ phase: 'answer media' });
    try {
      // A retry keeps the password of the first attempt (the ISO already in the pool may carry it).
      let adminPassword = adminSecret(id);
      try {
        await resolveSecret(adminPassword, { dir: secretsDir() });
      } catch {
        adminPassword = await createBuildAdminPassword({ secretsDir: secretsDir(), buildId: id });
      }
      const media = await buildAnswerMedia(
        {
          firmware: input.firmware,
          image: input.image,
          ...(input.productKey ? { productKey: input.productKey } : {}),
          computerName: input.computerName,
          timeZone: input.timeZone,
          uiLanguage: input.locale,
          inputLocale: input.locale,
          systemLocale: input.locale,
          userLocale: input.locale,
          adminPassword,
          winrm: { transport: input.isolatedNetwork ? 'http' : 'https', isolatedNetwork: input.isolatedNetwork },
          pvTools: input.pvTools,
          cloudbaseInit: { msi: input.cloudbaseInit },
        },
        { stateDir: stateDir(), buildId: id, signal, secrets: { dir: secretsDir() } },
      );
      try {
        reporter.update({ phase: 'importing the answer ISO' });
        const imported = await withPool(input.pool, (conn) =>
          importIsoFile(conn, id, media.isoPath, {
            name: `xenimage-answer-${id}.iso`,
            sr: input.sr,
            signal,
            onProgress: (bytes) => reporter.update({ bytesDone: bytes }),
          }),
        );
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
  });
}

/** Removes the secrets a build generated (its built-in Administrator password). */
export async function forgetBuildSecrets(): Promise<{ removed: string[] }> {
  return activity(async () => {
    const ref = adminSecret(buildId());
    await removeBuildAdminPassword({ secretsDir: secretsDir(), ref });
    return { removed: [ref.secret] };
  });
}
