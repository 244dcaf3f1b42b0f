// `xenimage build <kind> INPUT.json [--wait]`: starts a build from a JSON input file (src/cli/actions/build.ts).
import type { Command } from 'commander';
import { BUILD_KIND_NAMES, BUILD_KINDS } from './buildKinds.js';

export function registerBuildCommand(program: Command): void {
  const build = program.command('build').description('start a build from a JSON input file');
  for (const name of BUILD_KIND_NAMES) {
    build
      .command(name)
      .description(BUILD_KINDS[name].description)
      .argument('<input.json>', 'the workflow input (the same JSON the Temporal UI takes)')
      .option('--id <workflowId>', 'workflow ID (default: <kind>-<image name>-<random>)')
      .option('--wait', 'follow the build until it ends')
      .action(async (file: string, opts: { id?: string; wait?: boolean }) => {
        const { startBuild } = await import('./actions/build.js');
        await startBuild(name, file, opts);
      });
  }
}
