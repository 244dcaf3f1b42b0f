// JSON Schemas of the build inputs, made from their zod schemas.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../../errors.js';
import { BUILD_KIND_NAMES, BUILD_KINDS, isBuildKindName, type BuildKindName } from '../buildKinds.js';
import { BUILD_SCHEMAS } from '../buildSchemas.js';

export function inputJsonSchema(kind: BuildKindName): Record<string, unknown> {
  const k = BUILD_KINDS[kind];
  return {
    ...z.toJSONSchema(BUILD_SCHEMAS[kind], { io: 'input', unrepresentable: 'any' }),
    title: `${k.workflowType} input`,
    description: k.description,
  };
}

export function schemaText(kind: BuildKindName): string {
  return JSON.stringify(inputJsonSchema(kind), null, 2) + '\n';
}

export async function printSchema(kind: string | undefined, opts: { write?: string }): Promise<void> {
  if (opts.write) {
    await mkdir(opts.write, { recursive: true });
    for (const name of BUILD_KIND_NAMES) {
      await writeFile(path.join(opts.write, `${name}.schema.json`), schemaText(name));
    }
    return;
  }
  if (!kind || !isBuildKindName(kind))
    throw new InvalidInputError(`name a kind: one of ${BUILD_KIND_NAMES.join(', ')}`);
  process.stdout.write(schemaText(kind));
}
