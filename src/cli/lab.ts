// `xenimage lab`: starts the embedded services and prints one JSON line with their endpoints when ready.
import type { Command } from 'commander';
import { startLab, type Lab } from '../lab/index.js';
import { cliContext, writeEndpoints, type CliContext } from './context.js';
import { untilSignal } from './worker.js';

export async function startLabFromCli(ctx: CliContext): Promise<Lab> {
  const lab = await startLab({ config: ctx.config, stateDir: ctx.stateDir, logger: ctx.logger });
  await writeEndpoints(ctx.stateDir, {
    temporal: lab.ready.temporal,
    clouds: lab.ready.clouds,
    cloud: lab.ready.cloud,
    pid: process.pid,
  });
  return lab;
}

export function registerLabCommand(program: Command): void {
  program
    .command('lab')
    .description('start the embedded services (Temporal, Keystone + Glance, the XenServer lab); print one JSON line when ready')
    .action(async () => {
      const ctx = cliContext();
      const lab = await startLabFromCli(ctx);
      process.stdout.write(JSON.stringify(lab.ready) + '\n');
      await untilSignal(ctx.logger);
      await lab.stop();
    });
}
