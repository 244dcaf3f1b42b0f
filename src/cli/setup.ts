// `xenimage setup`: the one-time installs, done up front instead of on first use (src/cli/actions/setup.ts).
import type { Command } from 'commander';

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description(
      'one-time installs: the system packages of `xenimage up` (or of a worker) and the Temporal CLI when no cluster is configured',
    )
    .option('--worker', 'only what `xenimage worker` needs')
    .option(
      '--search-attributes',
      "instead: register xenimage's search attributes on the namespace of the cluster named by TEMPORAL_ADDRESS",
    )
    .action(async (opts: { worker?: boolean; searchAttributes?: boolean }) => {
      const { runSetup } = await import('./actions/setup.js');
      await runSetup(opts);
    });
}
