// The pools file: XAPI pools by name. `XENIMAGE_POOLS_FILE`, default `<stateDir>/pools.yaml`:
//
//   pools:
//     xenimage-lab:
//       url: https://xs1.example.org        # the master (a member also works: the client follows the master)
//       username: root
//       password: { secret: xapi-xenimage-lab }
//       ca: /etc/xenimage/xs-ca.pem         # optional: trust this CA (TLS verification is always on)
//       insecure: true                      # only with an http:// URL: password and disks cross in clear
//       limits: { exports: 2, imports: 2, starts: 3 }   # optional: at most this many at once per worker process
//
// Passwords are secret references, resolved only when a connection is made.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';
import { SecretRefSchema } from '../secrets.js';
import { writeFileAtomic } from '../fs/atomicFile.js';

/**
 * What loads a pool, bounded (docs/decisions/builds-0003-pool-load-and-waits.md): VDI exports and imports stream
 * through the host's storage and network, VM starts take the host's memory and boot I/O. Defaults suit one host.
 */
export const PoolLimitsSchema = z
  .object({
    exports: z.number().int().min(1).max(100).default(2),
    imports: z.number().int().min(1).max(100).default(2),
    starts: z.number().int().min(1).max(100).default(3),
  })
  .strict();

export type PoolLimits = z.infer<typeof PoolLimitsSchema>;
export type PoolResource = keyof PoolLimits;
export const DEFAULT_POOL_LIMITS: PoolLimits = PoolLimitsSchema.parse({});

export const PoolEntrySchema = z
  .object({
    url: z.string().regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'an http:// or https:// URL'),
    username: z.string().min(1),
    password: SecretRefSchema,
    ca: z.string().min(1).optional(),
    /** Allows an http:// URL (the connection logs a warning); https is always verified. */
    insecure: z.boolean().optional(),
    limits: PoolLimitsSchema.optional(),
  })
  .strict()
  .refine((e) => !e.url.startsWith('http:') || e.insecure === true, {
    path: ['url'],
    message: 'an http:// URL sends the password and every disk in clear: use https, or say insecure: true',
  });

export type PoolEntry = z.infer<typeof PoolEntrySchema>;

export const PoolsFileSchema = z.object({ pools: z.record(z.string().min(1), PoolEntrySchema).default({}) }).strict();

export type PoolsFile = z.infer<typeof PoolsFileSchema>;

export function poolsFilePath(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.XENIMAGE_POOLS_FILE ? path.resolve(env.XENIMAGE_POOLS_FILE) : path.resolve(stateDir, 'pools.yaml');
}

export async function readPoolsFile(file: string): Promise<PoolsFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { pools: {} };
    throw new InvalidInputError(`pools file ${file} cannot be read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text) ?? {};
  } catch (err) {
    throw new InvalidInputError(`pools file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = PoolsFileSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new InvalidInputError(`pools file ${file} is not valid: ${problems.join('; ')}`, { problems });
  }
  return parsed.data;
}

/** The entry of a pool, or a typed non-retryable error naming the known pools. */
export async function poolEntry(file: string, name: string): Promise<PoolEntry> {
  const { pools } = await readPoolsFile(file);
  const entry = pools[name];
  if (!entry) {
    const known = Object.keys(pools);
    throw new InvalidInputError(
      `pool "${name}" is not in ${file} (known: ${known.length ? known.join(', ') : 'none'})`,
      { pool: name },
    );
  }
  return entry;
}

/** Adds or replaces one pool's entry (the file is rewritten atomically, other entries kept). */
export async function writePoolEntry(file: string, name: string, entry: PoolEntry): Promise<void> {
  const current = await readPoolsFile(file);
  current.pools[name] = PoolEntrySchema.parse(entry);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, stringifyYaml(current));
}
