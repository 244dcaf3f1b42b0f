// Small things the build workflow tests share: inputs, watching a build's progress, what a build left behind.
import assert from 'node:assert/strict';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { buildIdentity } from '../../src/contracts/buildIdentity.js';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import { buildTag, type OpenStackCloud } from '../../src/openstack/index.js';
import { XapiConnection } from '../../src/xapi/connection.js';
import { BUILD_TAG } from '../../src/xapi/tags.js';
import type { BuildLab } from './buildLab.js';
import { onTeardown } from './teardown.js';

/** The innermost ApplicationFailure of a workflow failure (through activity failures). */
export function rootFailure(err: unknown): ApplicationFailure | undefined {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

/** A Windows build input on the lab's pool and media, with short test timings. */
export async function windowsInput(
  lab: BuildLab,
  image: string,
  overrides: Partial<WindowsImageInput> = {},
): Promise<WindowsImageInput> {
  const password = await lab.putSecret('builder-admin', 'Xen!mage-Adm1n-Pw-7');
  return {
    pool: lab.pool,
    installIso: 'SERVER_EVAL_x64FRE_en-us.iso',
    windows: { imageName: 'Windows Server 2022 Standard Evaluation' },
    administrator: { name: 'builder', password },
    pvTools: lab.installers.pvTools,
    cloudbaseInit: lab.installers.cloudbaseInit,
    image: { name: image, properties: { os_distro: 'windows' } },
    cloud: lab.openstack.cloud,
    tuning: { heartbeatTimeout: '10s', retryInitialInterval: '1s', maxRetryInterval: '5s', transferTimeout: '30m' },
    ...overrides,
  };
}

/** The identity a started build tags what it makes with (workflow ID @ first execution run ID). */
export function identityOf(handle: { workflowId: string; firstExecutionRunId: string }): string {
  return buildIdentity(handle.workflowId, handle.firstExecutionRunId);
}

/** The identity of a build known by its workflow ID (its latest run's chain), from its history. */
export async function identityFromHistory(handle: WorkflowHandle): Promise<string> {
  const started = (await handle.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
  assert.ok(started?.firstExecutionRunId, 'the history starts with the start of the workflow');
  return buildIdentity(handle.workflowId, started.firstExecutionRunId);
}

/** Polls the `progress` query until `ready` holds (or the build closes, or the deadline passes). */
export async function waitForProgress(
  handle: WorkflowHandle,
  ready: (p: BuildProgress) => boolean,
  timeoutMs = 300_000,
): Promise<BuildProgress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await handle.query<BuildProgress>('progress').catch(() => undefined);
    if (p && ready(p)) return p;
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING')
      throw new Error(`the build closed (${status.name}) before the expected progress; last: ${JSON.stringify(p)}`);
    if (Date.now() > deadline) throw new Error(`progress condition not met in time; last: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A connection to the lab's pool for looking at what builds made. */
export async function labConnection(lab: BuildLab): Promise<XapiConnection> {
  const conn = await XapiConnection.open({
    pool: lab.pool,
    url: lab.xapi.url,
    username: lab.xapi.username,
    password: lab.xapi.password,
  });
  onTeardown(() => conn.close());
  return conn;
}

/** Names of everything in the pool tagged with the build (VMs, snapshots, VDIs). */
export async function taggedInPool(conn: XapiConnection, build: string): Promise<string[]> {
  await conn.barrier();
  return [
    ...conn
      .all('VM')
      .filter((v) => v.other_config[BUILD_TAG] === build)
      .map((v) => `VM ${v.name_label}`),
    ...conn
      .all('VDI')
      .filter((v) => v.other_config[BUILD_TAG] === build)
      .map((v) => `VDI ${v.name_label}`),
  ];
}

/** The build VM, once the build has created it. */
export async function buildVm(conn: XapiConnection, build: string, timeoutMs = 120_000): Promise<string> {
  return conn.waitFor(
    () => conn.all('VM').find((v) => v.other_config[BUILD_TAG] === build && !v.is_a_snapshot && !v.is_a_template)?.$ref,
    { timeoutMs, what: `the VM of ${build}` },
  );
}

export async function imagesOfBuild(cloud: OpenStackCloud, build: string): Promise<string[]> {
  return (await cloud.glance.listImages({ tag: buildTag(build) })).map((i) => `${i.id} ${i.status}`);
}

/**
 * Asserts a build left nothing behind: no tagged VM/VDI in the pool, no image in Glance, and nothing in the
 * secrets folder but what was configured (a build writes no secret anywhere).
 */
export async function assertNothingLeft(
  lab: BuildLab,
  conn: XapiConnection,
  cloud: OpenStackCloud,
  build: string,
): Promise<void> {
  assert.deepEqual(await taggedInPool(conn, build), [], 'nothing tagged with the build remains in the pool');
  assert.deepEqual(await imagesOfBuild(cloud, build), [], 'no image of the build remains in Glance');
  assert.deepEqual(await lab.unexpectedSecrets(), [], 'no secret file was left in the secrets folder');
}

/** The activity types of a build that started again after a failed attempt (from its history). */
export async function retriedActivities(handle: WorkflowHandle): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name ?? '']),
  );
  return events
    .filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
    .map((e) => typeOf.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)) ?? '?');
}

/** The worker identity that started each activity of a build (activity type → identities), from its history. */
export async function activityWorkers(handle: WorkflowHandle): Promise<Map<string, string[]>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name ?? '']),
  );
  const workers = new Map<string, string[]>();
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (!started) continue;
    const type = typeOf.get(String(started.scheduledEventId)) ?? '?';
    workers.set(type, [...(workers.get(type) ?? []), started.identity ?? '?']);
  }
  return workers;
}
