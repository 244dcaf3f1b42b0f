// `xenimage up` (= `npm start`): the embedded services, a worker, and the sample builds; serves until Ctrl-C,
// or exits after the samples with --once (non-zero if one failed).
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { createClient } from '../temporal/connection.js';
import { errorMessage } from '../errors.js';
import { startLabFromCli } from './lab.js';
import { cliContext } from './context.js';
import { startWorkers, untilSignal } from './worker.js';
import { runSamples } from './samples.js';

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('start Temporal, Keystone + Glance, the lab and a worker; run the sample builds; serve until Ctrl-C')
    .option('--once', 'exit when the sample builds end (non-zero if one failed)')
    .option('--no-samples', 'start everything but run no sample build')
    .option(
      '--scenario <name|file>',
      'lab scenario: demo, or e.g. sysprep-appx (an automatic revert-and-retry of sysprep)',
      'demo',
    )
    .option('--fresh', "start the XenServer lab from an empty pool (deletes the lab's pool, VMs and disks first)")
    .action(async (opts: { once?: boolean; samples: boolean; scenario?: string; fresh?: boolean }) => {
      const ctx = cliContext();
      const lab = await startLabFromCli(ctx, opts.scenario, opts.fresh);
      const workers = await startWorkers(lab.temporal, ctx.config, ctx.logger, [lab.xapi.poolName]);
      let client: Client | undefined;
      let failed = 0;
      try {
        console.log('xenimage is up');
        if (lab.ready.temporal.ui) console.log(`  Temporal Web UI   ${lab.ready.temporal.ui}`);
        console.log(`  Temporal          ${lab.ready.temporal.address} (namespace ${lab.ready.temporal.namespace})`);
        if (lab.ready.clouds) console.log(`  clouds.yaml       ${lab.ready.clouds}  (cloud ${lab.ready.cloud})`);
        if (lab.ready.keystone) console.log(`  Keystone          ${lab.ready.keystone}`);
        if (lab.ready.glance) console.log(`  Glance            ${lab.ready.glance}`);
        console.log(
          `  XenServer lab     ${lab.xapi.url} (pool ${lab.xapi.poolName}, scenario ${lab.xapi.scenario.name})`,
        );
        for (const g of lab.guests.guests())
          console.log(`  Windows guest     ${g.vm} at ${g.address}:${g.port}${g.https ? ' (https)' : ''}`);
        if (opts.samples) {
          console.log('running the sample builds (watch them in the Web UI)…');
          client = await createClient(lab.temporal);
          const outcomes = await runSamples({ ctx, client, lab });
          for (const o of outcomes)
            console.log(`  sample ${o.name.padEnd(12)} ${o.ok ? 'ok' : 'FAILED'}  ${o.summary}`);
          console.log('  builds: xenimage list; details: xenimage status <workflow ID>');
          failed = outcomes.filter((o) => !o.ok).length;
        }
        if (!opts.once) {
          console.log('serving; Ctrl-C to stop');
          await Promise.race([untilSignal(ctx.logger), ...workers.workers.map((w) => w.done)]);
        }
      } catch (err) {
        console.error(`xenimage up failed: ${errorMessage(err)}`);
        failed++;
      } finally {
        await client?.connection.close();
        await workers.shutdown();
        await lab.stop();
      }
      if (failed > 0) process.exitCode = 1;
    });
}
