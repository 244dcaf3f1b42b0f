// `xenimage lab`: starts the embedded services and prints one JSON line with their endpoints when ready.
import path from 'node:path';
import type { Command } from 'commander';
import { startLab, type Lab } from '../lab/index.js';
import { ensureBuildKey } from '../secrets.js';
import { cliContext, writeEndpoints, type CliContext } from './context.js';
import { untilSignal } from './worker.js';

export async function startLabFromCli(ctx: CliContext, scenario?: string): Promise<Lab> {
  const lab = await startLab({ config: ctx.config, stateDir: ctx.stateDir, logger: ctx.logger, scenario });
  // Every worker of this installation derives the builds' generated secrets from this key.
  await ensureBuildKey(
    process.env.XENIMAGE_SECRETS_DIR ?? path.join(ctx.stateDir, 'secrets'),
    ctx.config.secrets.buildKey,
  );
  await writeEndpoints(ctx.stateDir, {
    temporal: lab.ready.temporal,
    clouds: lab.ready.clouds,
    cloud: lab.ready.cloud,
    pools: lab.xapi.poolsFile,
    pool: lab.xapi.poolName,
    secrets: process.env.XENIMAGE_SECRETS_DIR,
    pid: process.pid,
  });
  return lab;
}

export function registerLabCommand(program: Command): void {
  program
    .command('lab')
    .description(
      'start the embedded services (Temporal, Keystone + Glance, the XenServer lab); print one JSON line when ready',
    )
    .option(
      '--scenario <name|file>',
      'lab scenario: a shipped name (default, existing-vms, windows-ready, …) or a JSON file',
    )
    .action(async (opts: { scenario?: string }) => {
      const ctx = cliContext();
      const lab = await startLabFromCli(ctx, opts.scenario);
      process.stdout.write(JSON.stringify(lab.ready) + '\n');
      await untilSignal(ctx.logger);
      await lab.stop();
    });
}
