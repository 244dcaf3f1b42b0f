// `xenimage deployment …` against Temporal's Worker Deployment API (src/temporal/deployments.ts).
import type { Client } from '@temporalio/client';
import { InvalidInputError } from '../../errors.js';
import {
  describeDeployment,
  listDeployments,
  runningOnVersionQuery,
  setCurrentVersion,
  setRampingVersion,
  stopRamp,
  type DeploymentView,
} from '../../temporal/deployments.js';
import { cliContext, temporalClient } from '../context.js';

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await temporalClient(cliContext());
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

export async function listDeploymentsCommand(opts: { json?: boolean }): Promise<void> {
  const names = await withClient(listDeployments);
  if (opts.json) console.log(JSON.stringify(names));
  else console.log(names.length ? names.join('\n') : 'no worker deployments (workers run without --deployment)');
}

/** The describe command's text: routing first, then one line per version, then what may be stopped. */
export function renderDeployment(view: DeploymentView): string[] {
  const lines = [`deployment ${view.name}`, `current: ${view.current ?? '(unversioned workers)'}`];
  if (view.ramping)
    lines.push(
      `ramping: ${view.ramping.buildId ?? '(unversioned workers)'} takes ${view.ramping.percent}% of new builds`,
    );
  const rows = [
    ['BUILD ID', 'STATUS', 'RUNNING', 'CREATED', 'TASK QUEUES'],
    ...view.versions.map((v) => [
      v.buildId,
      v.status,
      String(v.runningBuilds),
      v.createdAt ?? '',
      v.taskQueues.join(' '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  lines.push(
    ...rows.map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
  );
  for (const v of view.versions) {
    if (v.buildId === view.current || v.buildId === view.ramping?.buildId) continue;
    if (v.status === 'inactive' || v.status === 'created')
      lines.push(
        `${v.buildId}: takes no builds until set current (xenimage deployment set-current ${view.name} ${v.buildId}) or ramping`,
      );
    else if (v.drained) lines.push(`${v.buildId}: drained, its workers may be stopped`);
    else if (v.runningBuilds > 0)
      lines.push(
        `${v.buildId}: ${v.runningBuilds} running build(s) pinned to it: keep its workers until none is left ` +
          `(xenimage list --query '${runningOnVersionQuery(view.name, v.buildId)}')`,
      );
    else
      lines.push(
        `${v.buildId}: no running build seen yet; stopped taking builds at ${v.deactivatedAt}: ask again in a minute`,
      );
  }
  return lines;
}

export async function describeDeploymentCommand(name: string, opts: { json?: boolean }): Promise<void> {
  const view = await withClient((client) => describeDeployment(client, name));
  console.log(opts.json ? JSON.stringify(view, null, 2) : renderDeployment(view).join('\n'));
}

export async function setCurrentCommand(
  name: string,
  buildId: string | undefined,
  opts: { unversioned?: boolean; ignoreMissingTaskQueues?: boolean },
): Promise<void> {
  if (Boolean(buildId) === Boolean(opts.unversioned)) throw new InvalidInputError('give a build ID or --unversioned');
  await withClient((client) =>
    setCurrentVersion(client, name, buildId ?? null, {
      ignoreMissingTaskQueues: Boolean(opts.ignoreMissingTaskQueues),
    }),
  );
  console.log(
    `new builds of ${name} start on ${buildId ?? 'the unversioned workers'}; running builds stay where they are`,
  );
}

export async function rampCommand(
  name: string,
  buildId: string | undefined,
  percent: string | undefined,
  opts: { stop?: boolean; ignoreMissingTaskQueues?: boolean },
): Promise<void> {
  if (opts.stop) {
    if (buildId !== undefined) throw new InvalidInputError('--stop takes no build ID');
    await withClient((client) => stopRamp(client, name));
    console.log(`ramp of ${name} stopped: new builds start on the current version`);
    return;
  }
  if (buildId === undefined || percent === undefined)
    throw new InvalidInputError('give a build ID and a percentage (or --stop)');
  const share = /^\d+(\.\d+)?$/.test(percent) ? Number(percent) : NaN;
  await withClient((client) =>
    setRampingVersion(client, name, buildId, share, { ignoreMissingTaskQueues: Boolean(opts.ignoreMissingTaskQueues) }),
  );
  console.log(`${share}% of new builds of ${name} start on ${buildId}, the rest on the current version`);
}
