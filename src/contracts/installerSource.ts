// An installer the build puts on the answer media (PV tools, cloudbase-init): a file on the worker host or a
// URL, always pinned by SHA-256.
import { z } from 'zod';
import { InputUrlSchema } from './inputUrl.js';

export const InstallerSourceSchema = z.union([
  z
    .object({
      path: z.string().startsWith('/', 'an absolute path on the worker host'),
      sha256: z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits'),
    })
    .strict(),
  z.object({ url: InputUrlSchema, sha256: z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits') }).strict(),
]);

export type InstallerSource = z.infer<typeof InstallerSourceSchema>;
