// Worker deployments as an operator sees them: which version gets new builds (current, ramping), which versions
// still run pinned builds, and the two routing changes of a rollout (set current, ramp). Thin over the
// WorkflowService's Worker Deployment calls; the running builds are counted from visibility
// (`TemporalWorkerDeploymentVersion`), which the server updates with each build, so "drained" needs no wait for the
// server's periodic drainage check (docs/decisions/builds-0005-worker-versioning.md).
import type { Client } from '@temporalio/client';
import { InvalidInputError, XenimageError } from '../errors.js';

/** temporal.api.enums.v1.WorkerDeploymentVersionStatus, by value. */
const VERSION_STATUS = ['unspecified', 'inactive', 'current', 'ramping', 'draining', 'drained', 'created'] as const;
/** temporal.api.enums.v1.TaskQueueType, by value. */
const TASK_QUEUE_TYPE = ['unspecified', 'workflow', 'activity', 'nexus'] as const;
/** gRPC statuses NOT_FOUND and FAILED_PRECONDITION. */
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;
/**
 * How long after a version stopped taking new builds its running count is trusted: a build started just before
 * may not be in visibility yet (the server's own drainage check waits minutes for the same reason).
 */
const VISIBILITY_GRACE_MS = 30_000;

export type VersionStatus = (typeof VERSION_STATUS)[number];

export interface VersionView {
  buildId: string;
  status: VersionStatus;
  createdAt?: string;
  /** Builds (any workflow) pinned to this version that are still running. */
  runningBuilds: number;
  /** The task queues its workers polled (`name/type`). */
  taskQueues: string[];
  /** When it last stopped taking new builds (set current or ramping before). */
  deactivatedAt?: string;
  /** Not current, not ramping, nothing running on it (and visibility had time to show it): stop its workers. */
  drained: boolean;
}

export interface DeploymentView {
  name: string;
  /** The build ID new builds go to; null: unversioned workers. */
  current: string | null;
  /** A version that takes `percent` of new builds instead of the current one (null build ID: unversioned workers). */
  ramping?: { buildId: string | null; percent: number };
  versions: VersionView[];
}

// A deployment name is joined to a build ID by '.' in the server's older string form and by ':' in the
// TemporalWorkerDeploymentVersion search attribute: neither may appear in the name.
const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;

/** A deployment version from the CLI's words, or a typed InvalidInput error. */
export function checkVersion(deploymentName: string, buildId: string): { deploymentName: string; buildId: string } {
  checkDeploymentName(deploymentName);
  if (!BUILD_ID.test(buildId) || buildId === '__unversioned__')
    throw new InvalidInputError(
      `build ID "${buildId}": use 1 to 100 letters, digits, '.', '_', '+' or '-', starting with a letter or digit`,
    );
  return { deploymentName, buildId };
}

export function checkDeploymentName(name: string): string {
  if (!DEPLOYMENT_NAME.test(name))
    throw new InvalidInputError(
      `deployment name "${name}": use 1 to 100 letters, digits, '_' or '-', starting with a letter or digit`,
    );
  return name;
}

function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++, e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

/** The server's words without the gRPC status prefix ("9 FAILED_PRECONDITION: …"). */
function serverWords(err: unknown): string {
  const details = (err as { details?: unknown }).details ?? (err as { cause?: { details?: unknown } }).cause?.details;
  return typeof details === 'string' && details ? details : String((err as Error).message ?? err);
}

/** A refused routing call as a typed error: an unknown deployment or version, or a change the server declines. */
function refused(err: unknown, name: string, buildId?: string): never {
  const code = grpcCode(err);
  if (code === NOT_FOUND && buildId !== undefined)
    throw new XenimageError(
      'DeploymentVersionNotFound',
      `deployment "${name}" has no version "${buildId}": start its workers (xenimage worker --deployment ${name} --build-id ${buildId}) and wait until they poll`,
      { retryable: false, cause: err },
    );
  if (code === NOT_FOUND)
    throw new XenimageError(
      'DeploymentNotFound',
      `no worker deployment "${name}" in this namespace: start a worker with --deployment ${name} --build-id ID first`,
      { retryable: false, cause: err },
    );
  if (code === FAILED_PRECONDITION)
    throw new XenimageError('DeploymentChangeRefused', `${name}: ${serverWords(err)}`, {
      retryable: false,
      cause: err,
    });
  throw err;
}

function isoTime(t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!t?.seconds) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/** The query that finds the running builds pinned to a version. */
export function runningOnVersionQuery(deploymentName: string, buildId: string): string {
  return `TemporalWorkerDeploymentVersion = "${deploymentName}:${buildId}" AND ExecutionStatus = "Running"`;
}

export async function listDeployments(client: Client): Promise<string[]> {
  const names: string[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkerDeployments({
      namespace: client.options.namespace,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    names.push(...(page.workerDeployments ?? []).map((d) => d.name ?? '').filter(Boolean));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return names.sort();
}

export async function describeDeployment(client: Client, name: string): Promise<DeploymentView> {
  checkDeploymentName(name);
  const namespace = client.options.namespace;
  const described = await client.workflowService
    .describeWorkerDeployment({ namespace, deploymentName: name })
    .catch((err: unknown) => refused(err, name));
  const info = described.workerDeploymentInfo;
  const routing = info?.routingConfig;
  const current = routing?.currentDeploymentVersion?.buildId || null;
  const rampingId = routing?.rampingDeploymentVersion?.buildId || null;
  const percent = routing?.rampingVersionPercentage ?? 0;
  const now = Date.now();
  const versions = await Promise.all(
    (info?.versionSummaries ?? []).map(async (summary): Promise<VersionView> => {
      const buildId = summary.deploymentVersion?.buildId ?? '';
      const [running, version] = await Promise.all([
        client.workflow.count(runningOnVersionQuery(name, buildId)),
        client.workflowService.describeWorkerDeploymentVersion({
          namespace,
          deploymentVersion: { deploymentName: name, buildId },
        }),
      ]);
      const status = VERSION_STATUS[summary.status ?? 0] ?? 'unspecified';
      const createdAt = isoTime(summary.createTime);
      const deactivatedAt = isoTime(summary.lastDeactivationTime);
      const settled = !deactivatedAt || now - Date.parse(deactivatedAt) >= VISIBILITY_GRACE_MS;
      return {
        buildId,
        status,
        ...(createdAt ? { createdAt } : {}),
        ...(deactivatedAt ? { deactivatedAt } : {}),
        runningBuilds: running.count,
        taskQueues: (version.versionTaskQueues ?? [])
          .map((q) => `${q.name}/${TASK_QUEUE_TYPE[q.type ?? 0] ?? 'unspecified'}`)
          .sort(),
        drained: buildId !== current && buildId !== rampingId && running.count === 0 && settled,
      };
    }),
  );
  versions.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
  return {
    name,
    current,
    ...(rampingId || percent > 0 ? { ramping: { buildId: rampingId, percent } } : {}),
    versions,
  };
}

export interface RoutingChange {
  /** Set it although a task queue an earlier version polled has no poller of this version (a pool retired). */
  ignoreMissingTaskQueues?: boolean;
  identity?: string;
}

/** Makes `buildId` (null: the unversioned workers) the version new builds start on. */
export async function setCurrentVersion(
  client: Client,
  name: string,
  buildId: string | null,
  change: RoutingChange = {},
): Promise<void> {
  if (buildId !== null) checkVersion(name, buildId);
  else checkDeploymentName(name);
  await client.workflowService
    .setWorkerDeploymentCurrentVersion({
      namespace: client.options.namespace,
      deploymentName: name,
      buildId: buildId ?? '',
      ignoreMissingTaskQueues: change.ignoreMissingTaskQueues ?? false,
      identity: change.identity ?? client.options.identity ?? '',
    })
    .catch((err: unknown) => refused(err, name, buildId ?? undefined));
}

/** Sends `percent` of new builds to `buildId` instead of the current version. */
export async function setRampingVersion(
  client: Client,
  name: string,
  buildId: string,
  percent: number,
  change: RoutingChange = {},
): Promise<void> {
  checkVersion(name, buildId);
  if (!Number.isFinite(percent) || percent < 0 || percent > 100)
    throw new InvalidInputError(`ramp percentage ${percent}: give a number from 0 to 100`);
  await client.workflowService
    .setWorkerDeploymentRampingVersion({
      namespace: client.options.namespace,
      deploymentName: name,
      buildId,
      percentage: percent,
      ignoreMissingTaskQueues: change.ignoreMissingTaskQueues ?? false,
      identity: change.identity ?? client.options.identity ?? '',
    })
    .catch((err: unknown) => refused(err, name, buildId));
}

/** Stops a ramp: all new builds go to the current version again. */
export async function stopRamp(client: Client, name: string, change: RoutingChange = {}): Promise<void> {
  checkDeploymentName(name);
  await client.workflowService
    .setWorkerDeploymentRampingVersion({
      namespace: client.options.namespace,
      deploymentName: name,
      buildId: '',
      percentage: 0,
      identity: change.identity ?? client.options.identity ?? '',
    })
    .catch((err: unknown) => refused(err, name));
}
