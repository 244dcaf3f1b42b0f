// What status, list, cancel, retry-sysprep, abandon and check do, over the Temporal client.
import { randomUUID } from 'node:crypto';
import { TimeoutFailure, WorkflowFailedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import {
  ABANDON_UPDATE,
  PROGRESS_QUERY,
  REMEDY_NAME,
  RETRY_SYSPREP_UPDATE,
  type AbandonRequest,
  type BuildProgress,
  type RetrySysprepRequest,
} from '../../contracts/messages.js';
import { InvalidInputError, XenimageError } from '../../errors.js';
import type { HostReport } from '../../host/tools.js';
import { cliContext, temporalClient, type CliContext } from '../context.js';

async function withClient<T>(fn: (client: Client, ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = cliContext();
  const client = await temporalClient(ctx);
  try {
    return await fn(client, ctx);
  } finally {
    await client.connection.close();
  }
}

export async function showStatus(id: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
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
  });
}

export async function listBuilds(opts: { query: string; limit: string; json?: boolean }): Promise<void> {
  await withClient(async (client) => {
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
  });
}

export async function cancelBuild(id: string): Promise<void> {
  await withClient(async (client) => {
    await client.workflow.getHandle(id).cancel();
    console.log(`cancellation requested for ${id}; cleanup runs before it ends (xenimage status ${id})`);
  });
}

export async function retrySysprep(id: string, opts: { remedy?: string; note?: string }): Promise<void> {
  if (opts.remedy !== undefined && !REMEDY_NAME.test(opts.remedy)) {
    throw new InvalidInputError(`unknown remedy "${opts.remedy}": use remove-appx, reboot, none or script:NAME`);
  }
  const request: RetrySysprepRequest = { remedy: opts.remedy, note: opts.note };
  const accepted = await operatorUpdate<{ attempt: number }>(id, RETRY_SYSPREP_UPDATE, request);
  console.log(
    `sysprep attempt ${accepted.attempt} of ${id} started${opts.remedy ? ` after the remedy ${opts.remedy}` : ''} (xenimage status ${id})`,
  );
}

export async function abandonBuild(id: string, opts: { reason?: string }): Promise<void> {
  const request: AbandonRequest = { reason: opts.reason };
  await operatorUpdate(id, ABANDON_UPDATE, request);
  console.log(`${id} abandoned; cleanup runs before it ends (xenimage status ${id})`);
}

/** Sends an operator update and waits for its answer; a refusal by the workflow's validator is an error of its own. */
async function operatorUpdate<T>(id: string, update: string, request: object): Promise<T> {
  return withClient(async (client) => {
    try {
      return await client.workflow.getHandle(id).executeUpdate<T, [object]>(update, { args: [request] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new XenimageError('UpdateRejected', `${id} refused ${update}: ${err.cause?.message ?? err.message}`);
      }
      throw err;
    }
  });
}

/**
 * Runs the selfCheck workflow on the configured task queue and prints what the worker host has: proves the
 * connection (and its TLS), that a worker polls the queue, and that the worker has its tools. Exit code 1 when
 * a tool is missing on the worker.
 */
export async function checkWorker(opts: { timeout: string; json?: boolean }): Promise<void> {
  const seconds = Number(opts.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidInputError('--timeout must be a number of seconds');
  await withClient(async (client, ctx) => {
    const workflowId = `self-check-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start('selfCheck', {
      taskQueue: ctx.config.temporal.taskQueue,
      workflowId,
      args: [],
      workflowExecutionTimeout: seconds * 1000,
    });
    let report: HostReport;
    try {
      report = await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError && err.cause instanceof TimeoutFailure)) throw err;
      const queue = ctx.config.temporal.taskQueue;
      const polled = await client.workflowService
        // taskQueueType 1: TASK_QUEUE_TYPE_WORKFLOW (the queue selfCheck waits on).
        .describeTaskQueue({ namespace: ctx.config.temporal.namespace, taskQueue: { name: queue }, taskQueueType: 1 })
        .then((r) => (r.pollers?.length ?? 0) > 0)
        .catch(() => false);
      throw new XenimageError(
        'WorkerUnavailable',
        polled
          ? `a worker polls task queue ${queue} but ${workflowId} did not finish within ${seconds}s: see that worker's log`
          : `no worker polls task queue ${queue} (${workflowId} waited ${seconds}s): start one with "xenimage worker"`,
        { retryable: true, cause: err },
      );
    }
    const missing = Object.entries(report.tools)
      .filter(([, v]) => v === null)
      .map(([k]) => k);
    if (opts.json) console.log(JSON.stringify({ workflowId, ...report }));
    else {
      console.log(`worker ${report.hostname} (node ${report.node}, ${report.cpus} cpus) answered ${workflowId}`);
      for (const [tool, version] of Object.entries(report.tools))
        console.log(`  ${tool.padEnd(10)} ${version ?? 'MISSING'}`);
    }
    if (missing.length > 0) process.exitCode = 1;
  });
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
