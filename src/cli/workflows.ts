// Commands that look at or act on builds: status, list, cancel, and the operator's answers to a build that
// waits after a failed sysprep (retry-sysprep, abandon).
import type { Command } from 'commander';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import {
  ABANDON_UPDATE,
  PROGRESS_QUERY,
  REMEDY_NAME,
  RETRY_SYSPREP_UPDATE,
  type AbandonRequest,
  type BuildProgress,
  type RetrySysprepRequest,
} from '../contracts/messages.js';
import { InvalidInputError, XenimageError } from '../errors.js';
import { cliContext, temporalClient } from './context.js';

export function registerWorkflowCommands(program: Command): void {
  program
    .command('status')
    .description('show a build: state, current step, progress and result')
    .argument('<id>', 'workflow ID')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const ctx = cliContext();
      const client = await temporalClient(ctx);
      try {
        const handle = client.workflow.getHandle(id);
        const description = await handle.describe();
        let progress: BuildProgress | undefined;
        if (description.status.name === 'RUNNING') {
          progress = await handle.query<BuildProgress>(PROGRESS_QUERY).catch(() => undefined);
        }
        const result = description.status.name === 'COMPLETED' ? await handle.result() : undefined;
        const summary = {
          id,
          type: description.type,
          status: description.status.name,
          started: description.startTime.toISOString(),
          closed: description.closeTime?.toISOString(),
          step: description.searchAttributes.XenimageStep?.[0],
          progress,
          result,
        };
        if (opts.json) console.log(JSON.stringify(summary));
        else printStatus(summary);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('list')
    .description('list builds (newest first)')
    .option('--query <visibility query>', 'a Temporal list filter', 'XenimageKind IS NOT NULL')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'print JSON lines')
    .action(async (opts: { query: string; limit: string; json?: boolean }) => {
      const ctx = cliContext();
      const client = await temporalClient(ctx);
      try {
        let count = 0;
        for await (const wf of client.workflow.list({ query: opts.query })) {
          const row = {
            id: wf.workflowId,
            type: wf.type,
            status: wf.status.name,
            kind: wf.searchAttributes.XenimageKind?.[0],
            image: wf.searchAttributes.XenimageImage?.[0],
            step: wf.searchAttributes.XenimageStep?.[0],
            started: wf.startTime.toISOString(),
          };
          if (opts.json) console.log(JSON.stringify(row));
          else
            console.log(
              `${row.started}  ${String(row.status).padEnd(10)} ${String(row.kind ?? '').padEnd(10)} ${String(row.step ?? '').padEnd(16)} ${row.id}${row.image ? `  (${String(row.image)})` : ''}`,
            );
          if (++count >= Number(opts.limit)) break;
        }
        if (count === 0 && !opts.json) console.log('no builds');
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('cancel')
    .description('cancel a build; its cleanup still runs')
    .argument('<id>', 'workflow ID')
    .action(async (id: string) => {
      const ctx = cliContext();
      const client = await temporalClient(ctx);
      try {
        await client.workflow.getHandle(id).cancel();
        console.log(`cancellation requested for ${id}; cleanup runs before it ends (xenimage status ${id})`);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('retry-sysprep')
    .description('retry the sysprep of a build that waits for the operator (state awaiting-operator)')
    .argument('<id>', 'workflow ID')
    .option(
      '--remedy <name>',
      'apply this first: remove-appx, reboot, none, or script:NAME (<stateDir>/remedies/NAME.ps1 on the worker)',
    )
    .option('--note <text>', 'why, for the history (no secrets)')
    .action(async (id: string, opts: { remedy?: string; note?: string }) => {
      if (opts.remedy !== undefined && !REMEDY_NAME.test(opts.remedy)) {
        throw new InvalidInputError(`unknown remedy "${opts.remedy}": use remove-appx, reboot, none or script:NAME`);
      }
      const request: RetrySysprepRequest = { remedy: opts.remedy, note: opts.note };
      const accepted = await operatorUpdate<{ attempt: number }>(id, RETRY_SYSPREP_UPDATE, request);
      console.log(
        `sysprep attempt ${accepted.attempt} of ${id} started${opts.remedy ? ` after the remedy ${opts.remedy}` : ''} (xenimage status ${id})`,
      );
    });

  program
    .command('abandon')
    .description('give up a build that waits for the operator; its cleanup runs unless keepOnFailure was set')
    .argument('<id>', 'workflow ID')
    .option('--reason <text>', 'why, for the failure message (no secrets)')
    .action(async (id: string, opts: { reason?: string }) => {
      const request: AbandonRequest = { reason: opts.reason };
      await operatorUpdate(id, ABANDON_UPDATE, request);
      console.log(`${id} abandoned; cleanup runs before it ends (xenimage status ${id})`);
    });
}

/** Sends an operator update and waits for its answer; a refusal by the workflow's validator is an error of its own. */
async function operatorUpdate<T>(id: string, update: string, request: object): Promise<T> {
  const client: Client = await temporalClient(cliContext());
  try {
    return await client.workflow.getHandle(id).executeUpdate<T, [object]>(update, { args: [request] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new XenimageError('UpdateRejected', `${id} refused ${update}: ${err.cause?.message ?? err.message}`);
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}

function printStatus(s: Record<string, unknown> & { progress?: BuildProgress }): void {
  console.log(`${String(s.id)}  ${String(s.type)}  ${String(s.status)}`);
  console.log(`  started ${String(s.started)}${s.closed ? `, closed ${String(s.closed)}` : ''}`);
  if (s.step) console.log(`  step    ${String(s.step)}`);
  if (s.progress) {
    const p = s.progress;
    console.log(`  state   ${p.state} (attempt ${p.attempt})${p.waitingFor ? ` — waiting for: ${p.waitingFor}` : ''}`);
    if (p.bytesTotal) console.log(`  bytes   ${p.bytesDone ?? 0} / ${p.bytesTotal}`);
    for (const step of p.steps)
      console.log(`    ${step.status.padEnd(7)} ${step.step}${step.note ? ` — ${step.note}` : ''}`);
  }
  if (s.result !== undefined) console.log(`  result  ${JSON.stringify(s.result)}`);
}
