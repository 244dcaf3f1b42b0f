// What activities stand on, made once per worker process and handed to createActivities (the Temporal samples'
// dependency injection): the pool connections (one owner, closed at shutdown), the cloud opener, the secrets
// resolver, the clock, the logger, and the paths the activities use. Tests build their own.
import path from 'node:path';
import type { Config } from '../src/config.js';
import { inputPolicyOf, type InputPolicy } from '../src/inputs/policy.js';
import type { Logger } from '../src/log.js';
import { connectCloud, type OpenStackCloud } from '../src/openstack/index.js';
import { secretResolverFor, type SecretResolver } from '../src/secrets.js';
import { PoolConnections } from '../src/xapi/connect.js';
import { poolsFilePath, readPoolsFile } from '../src/xapi/pools.js';

/** Opens a cloud of clouds.yaml by name; the caller closes it. `idleTimeoutMs`: a transfer's stall timeout. */
export interface CloudOpener {
  open(name: string, options?: { idleTimeoutMs?: number }): OpenStackCloud;
}

export interface Clock {
  now(): Date;
}

export interface ActivityPaths {
  stateDir: string;
  /** Operators' sysprep remedy scripts (script:<name> → <remediesDir>/<name>.ps1). */
  remediesDir: string;
  /** Big temporary files (the qemu-img bridge): on the state disk, not /tmp. */
  tempDir: string;
  /** Operators' hook scripts (<dir>/<name>.ps1), searched in order (config hooks.dirs). */
  hookDirs: string[];
}

export interface ActivityDeps {
  pools: PoolConnections;
  clouds: CloudOpener;
  secrets: SecretResolver;
  clock: Clock;
  logger: Logger;
  paths: ActivityPaths;
  /** Where a workflow input may read and connect. */
  inputs: InputPolicy;
}

/** Deps with an owner: `close()` ends what they opened (the pools' connections and their event loops). */
export interface OwnedActivityDeps extends ActivityDeps {
  close(): Promise<void>;
}

const systemClock: Clock = { now: () => new Date() };

function activityPaths(config: Config): ActivityPaths {
  const dir = path.resolve(config.stateDir);
  return {
    stateDir: dir,
    remediesDir: path.join(dir, 'remedies'),
    tempDir: path.join(dir, 'tmp'),
    hookDirs: (config.hooks.dirs ?? [path.join(dir, 'hooks')]).map((d) => path.resolve(d)),
  };
}

export interface DepsOptions {
  logger: Logger;
  /** Where XENIMAGE_POOLS_FILE, XENIMAGE_SECRET_<NAME> and OS_CLIENT_CONFIG_FILE are read. */
  env?: NodeJS.ProcessEnv;
  /** Defaults: <stateDir>/pools.yaml (or XENIMAGE_POOLS_FILE); clouds.yaml as openstacksdk finds it. */
  poolsFile?: string;
  cloudsFile?: string;
  clock?: Clock;
}

/** A worker's deps from its configuration. */
export function openActivityDeps(config: Config, options: DepsOptions): OwnedActivityDeps {
  const env = options.env ?? process.env;
  const paths = activityPaths(config);
  const poolsFile = options.poolsFile ?? poolsFilePath(paths.stateDir, env);
  const secrets = secretResolverFor(config, {
    env,
    // The pools file's passwords are pool credentials whatever their names: never a build input.
    claimed: async () =>
      Object.values((await readPoolsFile(poolsFile)).pools).map((p) => ({
        name: p.password.secret,
        purpose: 'pool' as const,
      })),
  });
  const pools = new PoolConnections({ poolsFile, secrets }, { log: options.logger.child({ component: 'xapi' }) });
  const cloudsFile = options.cloudsFile;
  return {
    pools,
    clouds: {
      open: (name, opened) => connectCloud(name, { env, ...opened, ...(cloudsFile ? { file: cloudsFile } : {}) }),
    },
    secrets,
    clock: options.clock ?? systemClock,
    logger: options.logger,
    paths,
    inputs: inputPolicyOf(config, { env, protectedFiles: [poolsFile, cloudsFile] }),
    close: () => pools.closeAll(),
  };
}
