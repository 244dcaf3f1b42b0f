// The Windows PV tools of a build: an installer pinned by SHA-256 (a file on the worker host or a URL, as every
// installer), or none — then the build installs them from the pool's tools ISO. Which tools they are decides the
// MSI properties and has_vendor_device (src/windows/pvToolsPackage.ts): read from the installer's file name,
// else `kind`, else XenServer VM Tools (what every build installed before the kinds were told apart).
import { z } from 'zod';
import { pvToolsConflicts, pvToolsKindOf, type PvToolsKind } from '../windows/pvToolsPackage.js';
import { InputUrlSchema } from './inputUrl.js';
import type { InstallerSource } from './installerSource.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits');
const options = {
  /** Which tools the installer is, when its file name does not tell (managementagent*.msi, XenTools-x64.msi). */
  kind: z.enum(['xenserver', 'xcp-ng']).optional(),
  /** XenServer VM Tools only: driver updates through Windows Update (has_vendor_device on); default off. */
  windowsUpdateDrivers: z.boolean().optional(),
};

export const PvToolsInputSchema = z
  .union([
    z.object({ path: z.string().startsWith('/', 'an absolute path on the worker host'), sha256, ...options }).strict(),
    z.object({ url: InputUrlSchema, sha256, ...options }).strict(),
    // No installer: the pool's tools ISO.
    z.object(options).strict(),
  ])
  .superRefine((p, ctx) => {
    const kind = pvToolsKindFor(p);
    if (kind) {
      for (const message of pvToolsConflicts(kind, { windowsUpdateDrivers: p.windowsUpdateDrivers === true }))
        ctx.addIssue({ code: 'custom', message });
    }
    const named = 'path' in p ? pvToolsKindOf(p.path) : 'url' in p ? pvToolsKindOf(p.url) : undefined;
    if (named && p.kind && named !== p.kind)
      ctx.addIssue({ code: 'custom', message: `kind "${p.kind}" contradicts the installer's file name (${named})` });
  })
  .default({});

export type PvToolsInput = z.infer<typeof PvToolsInputSchema>;

/** The installer to put on the answer media, or undefined when the tools come from the pool. */
export function pvToolsInstaller(p: PvToolsInput): InstallerSource | undefined {
  if ('path' in p) return { path: p.path, sha256: p.sha256 };
  if ('url' in p) return { url: p.url, sha256: p.sha256 };
  return undefined;
}

/** The kind of an installer given in the input; undefined for tools from the pool (known once found). */
export function pvToolsKindFor(p: PvToolsInput): PvToolsKind | undefined {
  if ('path' in p) return pvToolsKindOf(p.path) ?? p.kind ?? 'xenserver';
  if ('url' in p) return pvToolsKindOf(new URL(p.url).pathname) ?? p.kind ?? 'xenserver';
  return p.kind;
}
