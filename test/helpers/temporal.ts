// Temporal for tests: the run's shared dev server when test/run.ts started one (XENIMAGE_TEST_TEMPORAL), else a
// private dev server in a temp folder, stopped when the test file ends.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTeardown } from './teardown.js';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../src/temporal/devServer.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { testLogger } from './logger.js';

export { testLogger } from './logger.js';

/** A dev server of the test's own (in `stateDir` when given: a restart keeps its workflows; on `port` when given). */
export async function startPrivateDevServer(stateDir?: string, port = 0): Promise<DevServer & { stateDir: string }> {
  const dir = stateDir ?? (await mkdtemp(path.join(os.tmpdir(), 'xenimage-temporal-')));
  const server = await startDevServer({ stateDir: dir, namespace: 'default', port, uiPort: 0, logger: testLogger() });
  return { ...server, stateDir: dir };
}

let shared: Promise<TemporalTarget & { uiUrl: string }> | undefined;

function sharedTemporal(): Promise<TemporalTarget & { uiUrl: string }> {
  shared ??= (async () => {
    const address = process.env.XENIMAGE_TEST_TEMPORAL;
    const uiUrl = process.env.XENIMAGE_TEST_TEMPORAL_UI;
    if (address && uiUrl) return { address, namespace: 'default', uiUrl };
    const server = await startPrivateDevServer();
    onTeardown(async () => {
      await server.stop();
      await rm(server.stateDir, { recursive: true, force: true });
    });
    return { address: server.address, namespace: server.namespace, uiUrl: server.uiUrl };
  })();
  return shared;
}

/** The Temporal target tests run workflows on. */
export async function testTemporal(): Promise<TemporalTarget> {
  const { address, namespace } = await sharedTemporal();
  return { address, namespace };
}

/** The Web UI of the dev server testTemporal() answers with. */
export async function testTemporalUi(): Promise<string> {
  return (await sharedTemporal()).uiUrl;
}

export async function testClient(target: TemporalTarget): Promise<Client> {
  const connection = await Connection.connect({ address: target.address });
  onTeardown(() => connection.close());
  return new Client({ connection, namespace: target.namespace });
}

/** A task queue of its own per test, so workers of parallel test files never take each other's tasks. */
export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
