// Scenarios by name (a JSON file shipped in this folder), by file path, or as an object; `extends` chains are
// resolved before validation, so a fault scenario can reuse `default` and add its faults.
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../../errors.js';
import { type Scenario, ScenarioSchema } from './schema.js';

/** The folder holding the named scenario files (src/lab/scenarios, found from src/ or dist/). */
export function scenarioDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  if (existsSync(path.join(dir, 'default.json'))) return dir;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'src', 'lab', 'scenarios');
    if (existsSync(path.join(candidate, 'default.json'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the lab scenario folder (src/lab/scenarios)');
}

export async function listScenarios(): Promise<string[]> {
  return (await readdir(scenarioDir()))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

type Raw = Record<string, unknown>;

async function readRaw(ref: string): Promise<Raw> {
  const isPath = ref.includes('/') || ref.endsWith('.json');
  const file = isPath ? path.resolve(ref) : path.join(scenarioDir(), `${ref}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    const known = isPath ? '' : ` (known: ${(await listScenarios()).join(', ')})`;
    throw new InvalidInputError(`lab scenario "${ref}" not found${known}`, { scenario: ref });
  }
  try {
    const data = JSON.parse(text) as unknown;
    if (typeof data !== 'object' || data === null || Array.isArray(data))
      throw new Error('the top level must be an object');
    return data as Raw;
  } catch (err) {
    throw new InvalidInputError(`lab scenario ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function merge(base: Raw, child: Raw): Raw {
  const out: Raw = { ...base, ...child };
  const bf = (base.faults ?? {}) as Raw;
  const cf = (child.faults ?? {}) as Raw;
  if (base.faults !== undefined || child.faults !== undefined) {
    out.faults = {
      xapi: [...((bf.xapi as unknown[]) ?? []), ...((cf.xapi as unknown[]) ?? [])],
      guest: [...((bf.guest as unknown[]) ?? []), ...((cf.guest as unknown[]) ?? [])],
    };
  }
  delete out.extends;
  return out;
}

async function resolveExtends(raw: Raw, seen: string[]): Promise<Raw> {
  const parent = raw.extends;
  if (typeof parent !== 'string') return raw;
  if (seen.includes(parent))
    throw new InvalidInputError(`lab scenario extends itself: ${[...seen, parent].join(' → ')}`);
  const base = await resolveExtends(await readRaw(parent), [...seen, parent]);
  return merge(base, raw);
}

export async function loadScenario(source: string | object): Promise<Scenario> {
  const raw = typeof source === 'string' ? await readRaw(source) : (structuredClone(source) as Raw);
  const resolved = await resolveExtends(raw, typeof source === 'string' ? [source] : []);
  const parsed = ScenarioSchema.safeParse(resolved);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new InvalidInputError(`invalid lab scenario: ${problems.join('; ')}`, { problems });
  }
  return parsed.data;
}
