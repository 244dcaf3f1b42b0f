// `xenimage setup`: the one-time installs, done up front instead of on first use: the Temporal CLI (built once
// into the cache unless TEMPORAL_ADDRESS names a cluster).
import type { Command } from 'commander';
import { ensureTemporalCli } from '../temporal/cliBinary.js';
import { cliContext } from './context.js';

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description('one-time installs: the Temporal CLI (dev server) when no cluster is configured')
    .action(async () => {
      const ctx = cliContext();
      if (ctx.config.temporal.address) {
        ctx.logger.info({ address: ctx.config.temporal.address }, 'TEMPORAL_ADDRESS set: no dev server needed');
      } else {
        const started = Date.now();
        const binary = await ensureTemporalCli(ctx.logger);
        console.log(`temporal CLI: ${binary} (${Math.round((Date.now() - started) / 1000)}s)`);
      }
    });
}
