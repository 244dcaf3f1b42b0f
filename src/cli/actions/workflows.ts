// What status, list, logs, cancel, retry-sysprep, abandon and check do, over the Temporal client.
import { randomUUID } from 'node:crypto';
import { TimeoutFailure, WorkflowFailedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import {
  ABANDON_UPDATE,
  PROGRESS_QUERY,
  REMEDY_NAME,
  RETRY_SYSPREP_UPDATE,
  type AbandonRequest,
  type BuildProgress,
  type GuestLogCollection,
  type RetrySysprepRequest,
} from '../../contracts/messages.js';
import { InvalidInputError, XenimageError } from '../../errors.js';
import type { HostReport } from '../../host/tools.js';
import { BUILD_KIND_NAMES, isBuildKindName } from '../buildKinds.js';
import { cliContext, temporalClient, type CliContext } from '../context.js';
import { renderGuestLogs, renderStatus, type BuildStatus } from '../statusView.js';

async function withClient<T>(fn: (client: Client, ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = cliContext();
  const client = await temporalClient(ctx);
  try {
    return await fn(client, ctx);
  } finally {
    await client.connection.close();
  }
}

/** What a build is now: its execution, its progress (when a worker answers), its result or failure. */
async function readStatus(client: Client, id: string): Promise<BuildStatus> {
  const handle = client.workflow.getHandle(id);
  const description = await handle.describe();
  const status = description.status.name;
  // A closed build answers queries too (a worker replays it); bounded, as no worker may be running.
  const progress = await client.connection
    .withDeadline(Date.now() + (status === 'RUNNING' ? 10_000 : 5_000), () =>
      handle.query<BuildProgress>(PROGRESS_QUERY),
    )
    .catch(() => undefined);
  let result: unknown;
  let failure: string | undefined;
  if (status === 'COMPLETED') result = await handle.result();
  else if (status !== 'RUNNING') failure = await handle.result().then(() => undefined, failureMessage);
  return {
    id,
    type: description.type,
    status,
    started: description.startTime.toISOString(),
    closed: description.closeTime?.toISOString(),
    step: description.searchAttributes.XenimageStep?.[0] as string | undefined,
    progress,
    result,
    failure,
  };
}

function failureMessage(err: unknown): string {
  let cause: unknown = err instanceof WorkflowFailedError ? (err.cause ?? err) : err;
  const parts: string[] = [];
  while (cause instanceof Error && parts.length < 4) {
    parts.push(cause.message);
    cause = cause.cause;
  }
  return parts.filter((m) => m).join(': ') || String(err);
}

const WATCH_INTERVAL_MS = 1000;

export async function showStatus(id: string, opts: { json?: boolean; watch?: boolean }): Promise<void> {
  const out = process.stdout;
  await withClient(async (client) => {
    let last = '';
    for (;;) {
      const status = await readStatus(client, id);
      const text = opts.json
        ? JSON.stringify(status)
        : renderStatus(status, { tty: Boolean(out.isTTY), now: new Date() }).join('\n');
      if (!opts.watch) {
        console.log(text);
        return;
      }
      if (text !== last) {
        // A terminal redraws in place; a pipe gets each change once (JSON: one line per change).
        if (out.isTTY && !opts.json) out.write(`\x1b[H\x1b[2J${text}\n`);
        else out.write(`${text}\n`);
        last = text;
      }
      if (status.status !== 'RUNNING') {
        if (status.status !== 'COMPLETED') process.exitCode = 1;
        return;
      }
      await new Promise((r) => setTimeout(r, WATCH_INTERVAL_MS));
    }
  });
}

export interface ListOptions {
  query: string;
  limit: string;
  running?: boolean;
  image?: string;
  kind?: string;
  json?: boolean;
}

/** The visibility query of `xenimage list`'s filters (values are checked: a quote would end the string). */
export function listQuery(opts: ListOptions): string {
  const clauses = [opts.query];
  if (opts.running) clauses.push(`ExecutionStatus = "Running"`);
  if (opts.kind !== undefined) {
    if (!isBuildKindName(opts.kind))
      throw new InvalidInputError(`unknown kind "${opts.kind}": one of ${BUILD_KIND_NAMES.join(', ')}`);
    clauses.push(`XenimageKind = "${opts.kind}"`);
  }
  if (opts.image !== undefined) {
    if (!/^[^"'\\]+$/.test(opts.image)) throw new InvalidInputError('--image must not contain quotes or backslashes');
    clauses.push(`XenimageImage = "${opts.image}"`);
  }
  return clauses.map((c) => `(${c})`).join(' AND ');
}

export async function listBuilds(opts: ListOptions): Promise<void> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit <= 0) throw new InvalidInputError('--limit must be a positive integer');
  const query = listQuery(opts);
  await withClient(async (client) => {
    let count = 0;
    for await (const wf of client.workflow.list({ query })) {
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
      if (++count >= limit) break;
    }
    if (count === 0 && !opts.json) console.log('no builds');
  });
}

/**
 * The guest logs a build collected (Windows builds: Panther, setupact, cloudbase-init, the tools' MSI log): from
 * its result once it succeeded, else from its progress (a closed build's progress needs a running worker).
 */
export async function showLogs(id: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const status = await readStatus(client, id);
    const fromResult = (status.result as { guestLogs?: GuestLogCollection[] } | undefined)?.guestLogs;
    const logs = fromResult ?? status.progress?.guestLogs;
    if (logs === undefined && status.progress === undefined && status.result === undefined)
      throw new XenimageError(
        'ProgressUnavailable',
        `${id} (${status.status}) did not answer its progress query: is a worker running ("xenimage worker")?`,
        { retryable: true },
      );
    if (opts.json) {
      console.log(JSON.stringify({ id, status: status.status, guestLogs: logs ?? [] }));
      return;
    }
    if (!logs || logs.length === 0) {
      console.log(`${id} (${status.type}, ${status.status}) has collected no guest logs`);
      return;
    }
    console.log(renderGuestLogs(logs).join('\n'));
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
