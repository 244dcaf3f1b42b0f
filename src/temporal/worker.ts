// Worker factory: one workflow bundle per process (bundling takes seconds), workers on the configured task
// queue with a graceful shutdown long enough for a running export to heartbeat its progress. A worker given a
// deployment version pins every build it starts to that version (docs/decisions/builds-0005-worker-versioning.md).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Logger } from '../log.js';
import { installRuntime } from './runtime.js';
import { tlsOptions, type TemporalTarget } from './connection.js';
import { durationMs } from '../contracts/duration.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The compiled workflows entry (dist/workflows/index.js). */
const WORKFLOWS_PATH = path.resolve(here, '../../workflows/index.js');

const bundles = new Map<string, Promise<WorkflowBundle>>();

/** The bundle of the workflows at `workflowsPath` (default: the engine's), made once per process. */
export function workflowBundle(logger: Logger, workflowsPath = WORKFLOWS_PATH): Promise<WorkflowBundle> {
  const known = bundles.get(workflowsPath);
  if (known) return known;
  const bundle = bundleWorkflowCode({
    workflowsPath,
    logger: new (class {
      log() {}
      trace() {}
      debug() {}
      info(message: string) {
        logger.debug({ component: 'bundler' }, message);
      }
      warn(message: string) {
        logger.warn({ component: 'bundler' }, message);
      }
      error(message: string) {
        logger.error({ component: 'bundler' }, message);
      }
    })(),
  });
  bundles.set(workflowsPath, bundle);
  return bundle;
}

/** A worker deployment version: the deployment (one per site, e.g. `xenimage`) and the release's build ID. */
export interface DeploymentVersion {
  deploymentName: string;
  buildId: string;
}

export interface WorkerOptions {
  target: TemporalTarget;
  taskQueue: string;
  activities: object;
  logger: Logger;
  shutdownGraceTime?: string;
  maxConcurrentActivities?: number;
  prometheus?: string | undefined;
  identity?: string;
  /** Serve this deployment version: builds started on it stay on it (Pinned). Unversioned when absent. */
  deployment?: DeploymentVersion;
  /** Another workflows module in place of the engine's (a test's changed release). */
  workflowsPath?: string;
  /** Runs workflows too (default). A pool queue's worker runs activities only: no workflow threads, less memory. */
  workflows?: boolean;
}

export interface RunningWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  installRuntime(options.logger, { prometheus: options.prometheus });
  const connection = await NativeConnection.connect({
    address: options.target.address,
    tls: await tlsOptions(options.target.tls),
  });
  const worker = await Worker.create({
    connection,
    namespace: options.target.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflows === false
      ? {}
      : { workflowBundle: await workflowBundle(options.logger, options.workflowsPath) }),
    activities: options.activities,
    shutdownGraceTime: durationMs(options.shutdownGraceTime ?? '5m'),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 20,
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.deployment
      ? {
          workerDeploymentOptions: {
            version: options.deployment,
            useWorkerVersioning: true,
            // A build's history is only ever replayed by the code that wrote it; builds run for hours.
            defaultVersioningBehavior: 'PINNED' as const,
          },
        }
      : {}),
  });
  const done = worker.run().finally(() => connection.close().catch(() => undefined));
  return {
    worker,
    connection,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
