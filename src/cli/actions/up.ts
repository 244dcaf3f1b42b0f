// `xenimage up`: host checks, the lab, a worker, the samples.
import { Client } from '@temporalio/client';
import { createClient } from '../../temporal/connection.js';
import { errorMessage } from '../../errors.js';
import { startLabFromCli } from '../lab.js';
import { cliContext } from '../context.js';
import { prepareHost } from '../hostCheck.js';
import { startWorkers, untilSignal } from '../worker.js';
import { runSamples } from '../samples.js';

export interface UpOptions {
  once?: boolean;
  samples: boolean;
  scenario?: string;
  fresh?: boolean;
}

export async function runUp(opts: UpOptions): Promise<void> {
  const ctx = cliContext();
  await prepareHost('up', ctx);
  const lab = await startLabFromCli(ctx, opts.scenario, opts.fresh);
  const workers = await startWorkers(lab.temporal, ctx.config, ctx.logger, [lab.xapi.poolName]).catch(
    async (err: unknown) => {
      await lab.stop();
      throw err;
    },
  );
  let client: Client | undefined;
  let failed = 0;
  try {
    console.log('xenimage is up');
    if (lab.ready.temporal.ui) console.log(`  Temporal Web UI   ${lab.ready.temporal.ui}`);
    console.log(`  Temporal          ${lab.ready.temporal.address} (namespace ${lab.ready.temporal.namespace})`);
    if (lab.ready.clouds) console.log(`  clouds.yaml       ${lab.ready.clouds}  (cloud ${lab.ready.cloud})`);
    if (lab.ready.keystone) console.log(`  Keystone          ${lab.ready.keystone}`);
    if (lab.ready.glance) console.log(`  Glance            ${lab.ready.glance}`);
    console.log(`  XenServer lab     ${lab.xapi.url} (pool ${lab.xapi.poolName}, scenario ${lab.xapi.scenario.name})`);
    for (const g of lab.guests.guests())
      console.log(`  Windows guest     ${g.vm} at ${g.address}:${g.port}${g.https ? ' (https)' : ''}`);
    if (opts.samples) {
      console.log('running the sample builds (watch them in the Web UI)…');
      client = await createClient(lab.temporal);
      const outcomes = await runSamples({ ctx, client, lab });
      for (const o of outcomes) console.log(`  sample ${o.name.padEnd(12)} ${o.ok ? 'ok' : 'FAILED'}  ${o.summary}`);
      console.log('  builds: xenimage list; details: xenimage status <workflow ID>');
      failed = outcomes.filter((o) => !o.ok).length;
    }
    if (!opts.once) {
      const signalled = untilSignal(ctx.logger); // before the line that invites Ctrl-C
      console.log('serving; Ctrl-C to stop');
      await Promise.race([signalled, ...workers.workers.map((w) => w.done)]);
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
}
