// `xenimage schema <kind>`: the JSON Schema of a build's input (what docs/inputs/ publishes and what an operator
// can use to check an input before pasting it into the Temporal UI).
import type { Command } from 'commander';
import { BUILD_KIND_NAMES } from './buildKinds.js';

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of a build input')
    .argument('[kind]', BUILD_KIND_NAMES.join(' | '))
    .option('--write <dir>', 'write every kind to <dir>/<kind>.schema.json instead')
    .action(async (kind: string | undefined, opts: { write?: string }) => {
      const { printSchema } = await import('./actions/schema.js');
      await printSchema(kind, opts);
    });
}
