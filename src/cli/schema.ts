// `xenimage schema <kind>`: the JSON Schema of a build's input (what docs/inputs/ publishes and what an operator
// can use to check an input before pasting it into the Temporal UI).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '../errors.js';
import { z } from 'zod';
import { BUILD_KINDS } from './buildKinds.js';

export function inputJsonSchema(kind: keyof typeof BUILD_KINDS): Record<string, unknown> {
  const k = BUILD_KINDS[kind];
  return {
    ...z.toJSONSchema(k.schema, { io: 'input', unrepresentable: 'any' }),
    title: `${k.workflowType} input`,
    description: k.description,
  };
}

export function schemaText(kind: keyof typeof BUILD_KINDS): string {
  return JSON.stringify(inputJsonSchema(kind), null, 2) + '\n';
}

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of a build input')
    .argument('[kind]', Object.keys(BUILD_KINDS).join(' | '))
    .option('--write <dir>', 'write every kind to <dir>/<kind>.schema.json instead')
    .action(async (kind: string | undefined, opts: { write?: string }) => {
      if (opts.write) {
        await mkdir(opts.write, { recursive: true });
        for (const name of Object.keys(BUILD_KINDS) as Array<keyof typeof BUILD_KINDS>) {
          await writeFile(path.join(opts.write, `${name}.schema.json`), schemaText(name));
        }
        return;
      }
      if (!kind || !(kind in BUILD_KINDS))
        throw new InvalidInputError(`name a kind: one of ${Object.keys(BUILD_KINDS).join(', ')}`);
      process.stdout.write(schemaText(kind as keyof typeof BUILD_KINDS));
    });
}
