// A build input from a JSON file, validated locally against its kind's schema (the workflow validates it again).
import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '../../errors.js';
import { parseInput } from '../../contracts/validate.js';
import { BUILD_KINDS, type BuildKindName } from '../buildKinds.js';
import { BUILD_SCHEMAS } from '../buildSchemas.js';

export async function readInputFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

export function validateBuildInput(kind: BuildKindName, input: unknown): { image: { name: string } } {
  const parsed = parseInput(BUILD_SCHEMAS[kind], input);
  if (!parsed.ok) throw new InvalidInputError(`invalid ${BUILD_KINDS[kind].name} input: ${parsed.message}`);
  return parsed.value;
}
