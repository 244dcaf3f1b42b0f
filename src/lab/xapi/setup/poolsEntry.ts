// The lab's entry in the engine's pools file (the format is the operator's: docs/operator-guide.md), written by
// the lab itself so it shares no code with the engine it is used to test. Other pools' entries are kept as they
// are; the file is replaced atomically and readable by its owner only.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { writeFileAtomic } from '../../../fs/atomicFile.js';

export interface LabPoolEntry {
  url: string;
  username: string;
  password: { secret: string };
  /** The pool's CA (PEM file), for an https URL. */
  ca?: string;
}

/** XENIMAGE_POOLS_FILE, else <stateDir>/pools.yaml (where the engine looks by default). */
export function defaultPoolsFile(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.XENIMAGE_POOLS_FILE ? path.resolve(env.XENIMAGE_POOLS_FILE) : path.resolve(stateDir, 'pools.yaml');
}

export async function writeLabPoolEntry(file: string, pool: string, entry: LabPoolEntry): Promise<void> {
  let data: Record<string, unknown> = {};
  try {
    const parsed = parseYaml(await readFile(file, 'utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) data = parsed as Record<string, unknown>;
    else if (parsed !== null && parsed !== undefined) throw new Error('the top level is not a mapping');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`the pools file ${file} cannot be updated: ${(err as Error).message}`, { cause: err });
  }
  const pools = (data.pools && typeof data.pools === 'object' ? data.pools : {}) as Record<string, unknown>;
  pools[pool] = { ...entry };
  data.pools = pools;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, stringifyYaml(data));
}
