// `xenimage worker`: runs workers until SIGINT/SIGTERM: one on the general task queue (workflows and the
// data path) and one per XenServer pool on `xen-<pool>`, which bounds how much each pool is asked at once.
import type { Command } from 'commander';
import * as activities from '../../activities/index.js';
import { closeXenConnections } from '../../activities/xen.js';
import type { Logger } from '../log.js';
import type { TemporalTarget } from '../temporal/connection.js';
import { startWorker, type RunningWorker } from '../temporal/worker.js';
import type { Config } from '../config.js';
import { adoptLabEndpoints, cliContext, temporalTarget } from './context.js';
import { prepareHost } from './hostCheck.js';

export function poolTaskQueue(pool: string): string {
  return `xen-${pool}`;
}

export interface WorkerSet {
  workers: RunningWorker[];
  shutdown(): Promise<void>;
}

export async function startWorkers(
  target: TemporalTarget,
  config: Config,
  logger: Logger,
  pools: string[],
): Promise<WorkerSet> {
  const common = {
    target,
    activities,
    logger,
    shutdownGraceTime: config.worker.shutdownGraceTime,
  };
  const workers: RunningWorker[] = [];
  workers.push(
    await startWorker({
      ...common,
      taskQueue: config.temporal.taskQueue,
      maxConcurrentActivities: config.worker.maxConcurrentActivities,
      prometheus: config.worker.prometheus,
    }),
  );
  for (const pool of pools) {
    workers.push(await startWorker({ ...common, taskQueue: poolTaskQueue(pool), maxConcurrentActivities: 4 }));
  }
  logger.info(
    { taskQueues: [config.temporal.taskQueue, ...pools.map(poolTaskQueue)], address: target.address },
    'workers running',
  );
  return {
    workers,
    async shutdown() {
      await Promise.allSettled(workers.map((w) => w.shutdown()));
      // The activities' XAPI connections (with their event loops) belong to the workers.
      await closeXenConnections();
    },
  };
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
export function untilSignal(logger: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down (signal again to force)');
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      const force = () => process.exit(130);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker on the configured task queue (and one per --pool on xen-<pool>)')
    .option('--pool <name...>', "XenServer pools this worker serves (default: the running lab's pool, if any)")
    .action(async (opts: { pool?: string[] }) => {
      const ctx = cliContext();
      await prepareHost('worker', ctx);
      const target = await temporalTarget(ctx);
      const labPool = ctx.config.temporal.address ? undefined : await adoptLabEndpoints(ctx);
      const set = await startWorkers(target, ctx.config, ctx.logger, opts.pool ?? (labPool ? [labPool] : []));
      await Promise.race([untilSignal(ctx.logger), ...set.workers.map((w) => w.done)]);
      await set.shutdown();
    });
}
