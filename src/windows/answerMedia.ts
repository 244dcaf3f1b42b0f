// The answer CD of a Windows build: Autounattend.xml, the first-logon scripts, the WinRM listener certificate
// (HTTPS mode), the pinned PV tools and cloudbase-init installers and cloudbase-init's configuration, as one
// ISO in the state dir (mode 0600). Input is validated and secrets resolved before anything is written; the
// staging folder is removed in every case and the ISO is removed on failure.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';
import { AnySecretRefSchema, SecretRefSchema } from '../contracts/secretRef.js';
import { log } from '../log.js';
import type { SecretResolver } from '../secrets.js';
import { ArtifactSchema, fetchArtifact, type ArtifactFetchOptions } from './artifacts.js';
import { buildAutounattend } from './autounattend.js';
import { createListenerCertificate } from './certificate.js';
import { DEFAULT_METADATA_SERVICES, cloudbaseInitConf, cloudbaseInitUnattendConf } from './cloudbaseInit.js';
import { CLOUDBASE_INIT_MSI, firstLogonPlan, LISTENER_PFX, SCRIPT_DIR } from './firstLogon.js';
import { STAGED_MSI } from './pvToolsPackage.js';
import { buildIso } from './iso.js';

export const DEFAULT_VOLUME_LABEL = 'XENIMAGE_CFG';

const locale = z.string().regex(/^[a-z]{2,3}-[A-Z]{2}$/, 'a locale such as en-US');

export const AnswerMediaInputSchema = z
  .object({
    firmware: z.enum(['bios', 'uefi']),
    image: z.union([
      z.object({ index: z.number().int().min(1).max(64) }).strict(),
      z.object({ name: z.string().min(1).max(256) }).strict(),
    ]),
    productKey: SecretRefSchema.optional(),
    computerName: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,15}$/, 'a NetBIOS name: 1-15 letters, digits or "-"')
      .refine((n) => !/^\d+$/.test(n), 'a computer name cannot be only digits'),
    timeZone: z.string().min(1).max(64).default('UTC'),
    uiLanguage: locale.default('en-US'),
    inputLocale: locale.default('en-US'),
    systemLocale: locale.default('en-US'),
    userLocale: locale.default('en-US'),
    organization: z.string().min(1).max(64).default('xenimage'),
    /** The built-in Administrator's password: the build's generated one, or a configured build input. */
    adminPassword: AnySecretRefSchema,
    /** `http` only when the build network is isolated: Basic over plain HTTP. */
    winrm: z
      .object({ transport: z.enum(['https', 'http']).default('https'), isolatedNetwork: z.boolean().default(false) })
      .strict()
      .default({ transport: 'https', isolatedNetwork: false }),
    /** Staged under the name of its kind (pvToolsPackage.ts); absent: the tools come from the pool's ISO. */
    pvTools: ArtifactSchema.optional(),
    pvToolsKind: z.enum(['xenserver', 'xcp-ng']).default('xenserver'),
    /** XenServer VM Tools: driver updates through Windows Update. */
    windowsUpdateDrivers: z.boolean().default(false),
    cloudbaseInit: z
      .object({
        msi: ArtifactSchema,
        username: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,20}$/)
          .default('Admin'),
        injectUserPassword: z.boolean().default(true),
        serialPort: z
          .string()
          .regex(/^COM\d$/)
          .optional(),
      })
      .strict()
      .optional(),
    volumeLabel: z
      .string()
      .regex(/^[A-Z0-9_]{1,32}$/)
      .default(DEFAULT_VOLUME_LABEL),
  })
  .strict()
  .refine((i) => i.winrm.transport === 'https' || i.winrm.isolatedNetwork, {
    message: 'WinRM over plain HTTP (Basic) is allowed only when winrm.isolatedNetwork is true',
    path: ['winrm', 'transport'],
  });

export type AnswerMediaInput = z.input<typeof AnswerMediaInputSchema>;

export interface AnswerMedia {
  isoPath: string;
  volumeLabel: string;
  winrm: { https: boolean; port: number; certificatePem: string | null; thumbprint: string | null };
  /** Files on the media, relative to its root (for logs and tests; no content). */
  files: string[];
}

export function parseAnswerMediaInput(input: unknown): z.infer<typeof AnswerMediaInputSchema> {
  const r = AnswerMediaInputSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
    throw new InvalidInputError(`invalid answer media input: ${problems.join('; ')}`, { problems });
  }
  return r.data;
}

export async function buildAnswerMedia(
  input: unknown,
  o: {
    stateDir: string;
    buildId: string;
    signal?: AbortSignal;
    secrets: SecretResolver;
    /** How installers are downloaded and how large they may be (the input policy's, from an activity). */
    artifacts?: ArtifactFetchOptions;
  },
): Promise<AnswerMedia> {
  const i = parseAnswerMediaInput(input);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(o.buildId))
    throw new InvalidInputError(`build id "${o.buildId}" cannot name a file`);
  // Late resolution, before anything is written: a missing secret creates nothing.
  const adminPassword = await o.secrets.resolveAny(i.adminPassword, 'build-input');
  const productKey = i.productKey ? await o.secrets.resolve(i.productKey, 'build-input') : undefined;
  const https = i.winrm.transport === 'https';
  const dir = path.join(o.stateDir, 'answer-media');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const staging = await mkdtemp(path.join(dir, `${o.buildId}-`));
  const isoPath = path.join(dir, `${o.buildId}.iso`);
  const files: string[] = [];
  const put = async (rel: string, data: string | Buffer): Promise<void> => {
    await mkdir(path.dirname(path.join(staging, rel)), { recursive: true, mode: 0o700 });
    await writeFile(path.join(staging, rel), data, { mode: 0o600 });
    files.push(rel);
  };
  try {
    const cert = https ? await createListenerCertificate({ commonName: i.computerName, tmpDir: staging }) : null;
    if (cert) await put(LISTENER_PFX.replace(/\\/g, '/'), cert.pfx);
    if (i.pvTools) {
      const msi = STAGED_MSI[i.pvToolsKind];
      await fetchArtifact(i.pvTools, path.join(staging, msi), o.signal, o.artifacts);
      files.push(msi);
    }
    if (i.cloudbaseInit) {
      await fetchArtifact(i.cloudbaseInit.msi, path.join(staging, CLOUDBASE_INIT_MSI), o.signal, o.artifacts);
      files.push(CLOUDBASE_INIT_MSI);
      const cb = {
        username: i.cloudbaseInit.username,
        groups: ['Administrators'],
        injectUserPassword: i.cloudbaseInit.injectUserPassword,
        serialPort: i.cloudbaseInit.serialPort,
        metadataServices: DEFAULT_METADATA_SERVICES,
      };
      await put(`${SCRIPT_DIR}/cloudbase-init.conf`, cloudbaseInitConf(cb));
      await put(`${SCRIPT_DIR}/cloudbase-init-unattend.conf`, cloudbaseInitUnattendConf(cb));
    }
    const plan = firstLogonPlan({
      label: i.volumeLabel,
      mode: https ? 'https' : 'http',
      pfxPassword: cert?.pfxPassword ?? null,
      installPvTools: i.pvTools !== undefined,
      windowsUpdateDrivers: i.windowsUpdateDrivers,
    });
    for (const [rel, text] of Object.entries(plan.scripts)) await put(rel, text);
    await put(
      'Autounattend.xml',
      buildAutounattend({
        firmware: i.firmware,
        image: i.image,
        productKey,
        uiLanguage: i.uiLanguage,
        inputLocale: i.inputLocale,
        systemLocale: i.systemLocale,
        userLocale: i.userLocale,
        timeZone: i.timeZone,
        computerName: i.computerName,
        adminPassword,
        firstLogonCommands: plan.commands,
        organization: i.organization,
      }),
    );
    await buildIso({ sourceDir: staging, output: isoPath, volumeLabel: i.volumeLabel, signal: o.signal });
    log().child({ component: 'answer-media' }).info({ isoPath, files, https }, 'answer media built');
    return {
      isoPath,
      volumeLabel: i.volumeLabel,
      winrm: {
        https,
        port: https ? 5986 : 5985,
        certificatePem: cert?.certPem ?? null,
        thumbprint: cert?.thumbprint ?? null,
      },
      files,
    };
  } catch (err) {
    await rm(isoPath, { force: true });
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Deletes the answer ISO (it holds the administrator password and the listener key). */
export async function removeAnswerMedia(isoPath: string): Promise<void> {
  await rm(isoPath, { force: true });
}
