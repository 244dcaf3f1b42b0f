// What every command needs: config, a logger, and where Temporal is. A running `xenimage up`/`lab` records its
// endpoints in <stateDir>/endpoints.json so later commands (status, list, build, …) find the embedded services.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../config.js';
import { XenimageError } from '../errors.js';
import { makePrivateDir, writePrivateFile } from '../host/privateFiles.js';
import { createLogger, setRootLogger, type Logger } from '../log.js';
import { createClient, type TemporalTarget } from '../temporal/connection.js';

export interface Endpoints {
  temporal?: { address: string; namespace: string; ui?: string };
  clouds?: string;
  cloud?: string;
  pools?: string;
  [key: string]: unknown;
}

export interface CliContext {
  config: Config;
  logger: Logger;
  stateDir: string;
}

export function cliContext(): CliContext {
  const config = loadConfig();
  const logger = createLogger({ level: config.log.level });
  setRootLogger(logger);
  return { config, logger, stateDir: path.resolve(config.stateDir) };
}

export function endpointsFile(stateDir: string): string {
  return path.join(stateDir, 'endpoints.json');
}

/** 0600 in a 0700 state folder: it names the files that hold the lab's credentials. */
export async function writeEndpoints(stateDir: string, endpoints: Endpoints): Promise<void> {
  await makePrivateDir(stateDir);
  await writePrivateFile(endpointsFile(stateDir), JSON.stringify(endpoints, null, 2) + '\n');
}

export async function readEndpoints(stateDir: string): Promise<Endpoints | undefined> {
  try {
    return JSON.parse(await readFile(endpointsFile(stateDir), 'utf8')) as Endpoints;
  } catch {
    return undefined;
  }
}

/**
 * For a worker joining a running `xenimage up`/`lab`: where its clouds.yaml, pools file and secrets are, unless
 * the environment already says. Returns the lab's pool name, if any.
 */
export async function adoptLabEndpoints(ctx: CliContext): Promise<string | undefined> {
  const endpoints = await readEndpoints(ctx.stateDir);
  if (!endpoints) return undefined;
  if (endpoints.clouds && ctx.config.openstack.cloud === endpoints.cloud)
    process.env.OS_CLIENT_CONFIG_FILE ??= endpoints.clouds;
  if (typeof endpoints.pools === 'string') process.env.XENIMAGE_POOLS_FILE ??= endpoints.pools;
  if (typeof endpoints.secrets === 'string') process.env.XENIMAGE_SECRETS_DIR ??= endpoints.secrets;
  return typeof endpoints.pool === 'string' ? endpoints.pool : undefined;
}

/** The configured cluster, else the embedded dev server that `xenimage up`/`lab` started. */
export async function temporalTarget(ctx: CliContext): Promise<TemporalTarget> {
  const { temporal } = ctx.config;
  if (temporal.address) return { address: temporal.address, namespace: temporal.namespace, tls: temporal.tls };
  const endpoints = await readEndpoints(ctx.stateDir);
  if (endpoints?.temporal) return { address: endpoints.temporal.address, namespace: endpoints.temporal.namespace };
  throw new XenimageError(
    'TemporalNotConfigured',
    `no Temporal to talk to: start one with "xenimage up" (or "xenimage lab"), or set TEMPORAL_ADDRESS`,
    { retryable: false },
  );
}

export async function temporalClient(ctx: CliContext): Promise<Client> {
  return createClient(await temporalTarget(ctx));
}
