// `xenimage lab`: starts the embedded services and prints one JSON line with their endpoints once every service
// and every running scenario guest answers. The line names password files (0600), never passwords; what was done
// with an existing lab state (resumed, the scenario applied, or a fresh pool) is in it and on stderr.
import type { Command } from 'commander';
import { startLab, type Lab } from '../lab/index.js';
import { secretsDirOf } from '../config.js';
import { ensureBuildKey } from '../secrets.js';
import { cliContext, writeEndpoints, type CliContext } from './context.js';
import { untilSignal } from './worker.js';

export interface LabStartOptions {
  scenario?: string;
  /** Start the XenServer lab from an empty pool (its state is deleted first). */
  fresh?: boolean;
}

/** One line for the operator: what happened to the lab's state folder. */
export function describeLabState(lab: Lab): string {
  const s = lab.ready.state;
  if (s.action === 'fresh') return `lab state: a new pool from scenario "${s.scenario}" in ${s.dir}`;
  if (s.action === 'resumed')
    return `lab state: resumed the pool of scenario "${s.madeBy}" in ${s.dir}; scenario "${s.scenario}" adds nothing to it`;
  const added = Object.entries(s.added)
    .filter(([, names]) => names.length > 0)
    .map(([kind, names]) => `${kind} ${names.join(', ')}`)
    .join('; ');
  return `lab state: applied scenario "${s.scenario}" to the pool of scenario "${s.madeBy}" in ${s.dir} (added ${added})`;
}

export async function startLabFromCli(ctx: CliContext, scenario?: string, fresh?: boolean): Promise<Lab> {
  const lab = await startLab({ config: ctx.config, stateDir: ctx.stateDir, logger: ctx.logger, scenario, fresh });
  // Every worker of this installation derives the builds' generated secrets from this key.
  await ensureBuildKey(secretsDirOf(ctx.config), ctx.config.secrets.buildKey);
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
      'lab scenario: a shipped name (default, existing-vms, windows-ready, xcp-ng-8.3, …) or a JSON file; on an ' +
        'existing state it is added to the pool there, or refused when it describes another pool',
    )
    .option('--fresh', "start the XenServer lab from an empty pool (deletes the lab's pool, VMs and disks first)")
    .action(async (opts: LabStartOptions) => {
      const ctx = cliContext();
      // The same tools, packages and private state as `xenimage up`.
      const { prepareHost } = await import('./hostCheck.js');
      await prepareHost('up', ctx);
      const lab = await startLabFromCli(ctx, opts.scenario, opts.fresh);
      // Listen before announcing: whoever reads the ready line may stop the lab at once.
      const signalled = untilSignal(ctx.logger);
      process.stderr.write(describeLabState(lab) + '\n');
      process.stdout.write(JSON.stringify(lab.ready) + '\n');
      await signalled;
      await lab.stop();
    });
}
