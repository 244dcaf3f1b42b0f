// The sample builds `xenimage up` runs on the embedded lab, so a fresh checkout shows the whole path working.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { errorMessage } from '../errors.js';
import type { Lab } from '../lab/index.js';
import type { CliContext } from './context.js';

export interface SampleOutcome {
  name: string;
  ok: boolean;
  workflowId: string;
  summary: string;
}

interface SampleArgs {
  ctx: CliContext;
  client: Client;
  lab: Lab;
}

async function runOne(name: string, workflowId: string, run: () => Promise<string>): Promise<SampleOutcome> {
  try {
    return { name, ok: true, workflowId, summary: await run() };
  } catch (err) {
    return { name, ok: false, workflowId, summary: `${workflowId}: ${errorMessage(err)}` };
  }
}

export async function runSamples({ ctx, client }: SampleArgs): Promise<SampleOutcome[]> {
  const taskQueue = ctx.config.temporal.taskQueue;
  const suffix = randomUUID().slice(0, 8);
  const outcomes: SampleOutcome[] = [];
  const selfCheckId = `sample-self-check-${suffix}`;
  outcomes.push(
    await runOne('self-check', selfCheckId, async () => {
      const report = await client.workflow.execute('selfCheck', { taskQueue, workflowId: selfCheckId, args: [] });
      const missing = Object.entries(report.tools).filter(([, v]) => v === null).map(([k]) => k);
      return missing.length ? `worker host lacks ${missing.join(', ')}` : `worker ${report.hostname}: all tools found`;
    }),
  );
  return outcomes;
}
