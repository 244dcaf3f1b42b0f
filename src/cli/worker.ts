// `xenimage worker`: runs workers until SIGINT/SIGTERM: one on the general task queue (workflows and the
// data path) and one per XenServer pool on its pool queue, with many slots for the pool's waits; the pools file's
// limits bound what loads each pool (docs/decisions/builds-0003-pool-load-and-waits.md). The
// activities' deps (pool connections, clouds, secrets) are made once for the process and closed at shutdown.
import type { Command } from 'commander';
import { createActivities, openActivityDeps } from '../../activities/index.js';
import { loadConfig, type Config } from '../config.js';
import { poolTaskQueue } from '../contracts/taskQueues.js';
import type { Logger } from '../log.js';
import type { SecretResolver } from '../secrets.js';
import type { TemporalTarget } from '../temporal/connection.js';
import { startWorker, type RunningWorker } from '../temporal/worker.js';
import { adoptLabEndpoints, cliContext, temporalTarget } from './context.js';
import { prepareHost } from './hostCheck.js';

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
  const deps = openActivityDeps(config, { logger });
  await warnWithoutBuildKey(deps.secrets, logger);
  const common = {
    target,
    activities: createActivities(deps),
    logger,
    shutdownGraceTime: config.worker.shutdownGraceTime,
  };
  const workers: RunningWorker[] = [];
  const shutdown = async () => {
    await Promise.allSettled(workers.map((w) => w.shutdown()));
    // The activities' XAPI connections (with their event loops) outlive no worker.
    await deps.close();
  };
  try {
    workers.push(
      await startWorker({
        ...common,
        taskQueue: config.temporal.taskQueue,
        maxConcurrentActivities: config.worker.maxConcurrentActivities,
        prometheus: config.worker.prometheus,
      }),
    );
    for (const pool of pools) {
      // Many slots: waits there are cheap polls; the pools file's limits bound what loads the pool.
      workers.push(
        await startWorker({
          ...common,
          taskQueue: poolTaskQueue(pool),
          maxConcurrentActivities: config.worker.maxPoolActivities,
        }),
      );
    }
  } catch (err) {
    await shutdown();
    throw err;
  }
  logger.info(
    { taskQueues: [config.temporal.taskQueue, ...pools.map(poolTaskQueue)], address: target.address },
    'workers running',
  );
  return { workers, shutdown };
}

/** Windows builds derive their generated secrets from the build key: say early when this worker lacks it. */
async function warnWithoutBuildKey(secrets: SecretResolver, logger: Logger): Promise<void> {
  if (!(await secrets.hasBuildKey()))
    logger.warn(
      { secret: secrets.buildKey, dir: secrets.dir },
      'no build key: Windows builds fail on this worker until every worker holds the same key',
    );
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
      // Read again: a running lab's endpoints (secrets folder, pools file) are in the environment now.
      const config = loadConfig();
      const set = await startWorkers(target, config, ctx.logger, opts.pool ?? (labPool ? [labPool] : []));
      await Promise.race([untilSignal(ctx.logger), ...set.workers.map((w) => w.done)]);
      await set.shutdown();
    });
}
