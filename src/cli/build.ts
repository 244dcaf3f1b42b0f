// `xenimage build <kind> INPUT.json [--wait]`: validates the input locally (the workflow validates it again),
// starts the workflow on the configured task queue, and optionally follows it to the end.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError } from '../errors.js';
import { parseInput } from '../contracts/validate.js';
import { cliContext, temporalClient } from './context.js';
import { followBuild } from './progressView.js';
import { BUILD_KINDS, type BuildKind } from './buildKinds.js';

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

export function validateBuildInput(kind: BuildKind, input: unknown): { image: { name: string } } {
  const parsed = parseInput(kind.schema, input);
  if (!parsed.ok) throw new InvalidInputError(`invalid ${kind.name} input: ${parsed.message}`);
  return parsed.value;
}

export function registerBuildCommand(program: Command): void {
  const build = program.command('build').description('start a build from a JSON input file');
  for (const kind of Object.values(BUILD_KINDS) as BuildKind[]) {
    build
      .command(kind.name)
      .description(kind.description)
      .argument('<input.json>', 'the workflow input (the same JSON the Temporal UI takes)')
      .option('--id <workflowId>', 'workflow ID (default: <kind>-<image name>-<random>)')
      .option('--wait', 'follow the build until it ends')
      .action(async (file: string, opts: { id?: string; wait?: boolean }) => {
        const ctx = cliContext();
        const input = await readInputFile(file);
        const params = validateBuildInput(kind, input);
        const client = await temporalClient(ctx);
        try {
          const workflowId =
            opts.id ??
            `${kind.name}-${params.image.name.replace(/[^A-Za-z0-9._-]+/g, '-')}-${randomUUID().slice(0, 8)}`;
          const handle = await client.workflow.start(kind.workflowType, {
            taskQueue: ctx.config.temporal.taskQueue,
            workflowId,
            args: [input],
            workflowIdConflictPolicy: 'FAIL',
          });
          console.log(JSON.stringify({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }));
          if (opts.wait) {
            const result = await followBuild(handle);
            console.log(JSON.stringify(result));
          }
        } finally {
          await client.connection.close();
        }
      });
  }
}
