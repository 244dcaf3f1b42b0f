// Connections by pool name: the pools file gives URL, user, a secret reference for the password and an optional
// CA; the password is resolved only here. A registry keeps one live connection per pool for a worker process.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SecretResolver } from '../secrets.js';
import { XapiConnection, type ConnectionOptions } from './connection.js';
import { PoolSlots } from './poolLimits.js';
import { DEFAULT_POOL_LIMITS, poolEntry, poolsFilePath, readPoolsFile } from './pools.js';

export interface PoolLocation {
  /** Default pools file: <stateDir>/pools.yaml (XENIMAGE_POOLS_FILE overrides). */
  stateDir?: string;
  poolsFile?: string;
  /** Resolves the pool's password (a pool credential: secrets.scopes.pool). */
  secrets: SecretResolver;
}

const warnedInsecure = new Set<string>();

/** One warning per pool and process: the pools file allowed http (`insecure: true`). */
function warnInsecure(pool: string, url: string, log: Logger | undefined): void {
  if (warnedInsecure.has(pool)) return;
  warnedInsecure.add(pool);
  const message = `pool "${pool}" is reached over plain http (${new URL(url).host}, insecure: true in the pools file): its password and disks cross the network in clear`;
  if (log) log.warn({ pool }, message);
  else process.emitWarning(message);
}

export async function connectPool(
  pool: string,
  where: PoolLocation,
  options: ConnectionOptions = {},
): Promise<XapiConnection> {
  const file = where.poolsFile ?? poolsFilePath(where.stateDir ?? '.xenimage');
  const entry = await poolEntry(file, pool);
  const password = await where.secrets.resolve(entry.password, 'pool');
  let ca: string | undefined;
  if (entry.ca) {
    const caFile = path.resolve(path.dirname(file), entry.ca);
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (err) {
      throw new InvalidInputError(`CA file ${caFile} of pool "${pool}" cannot be read: ${(err as Error).message}`, {
        pool,
      });
    }
  }
  if (entry.url.startsWith('http:')) warnInsecure(pool, entry.url, options.log);
  return XapiConnection.open({ pool, url: entry.url, username: entry.username, password, ca }, options);
}

/**
 * One connection per pool, reopened when it broke, and the slots that bound what loads each pool (the pools
 * file's `limits`); for activities of a worker process.
 */
export class PoolConnections {
  private readonly open = new Map<string, Promise<XapiConnection>>();
  readonly slots: PoolSlots;

  constructor(
    private readonly where: PoolLocation,
    private readonly options: ConnectionOptions & { log?: Logger } = {},
  ) {
    const file = where.poolsFile ?? poolsFilePath(where.stateDir ?? '.xenimage');
    this.slots = new PoolSlots(async (pool) => ({
      ...DEFAULT_POOL_LIMITS,
      ...(await readPoolsFile(file)).pools[pool]?.limits,
    }));
  }

  async get(pool: string): Promise<XapiConnection> {
    const existing = this.open.get(pool);
    if (existing) {
      const conn = await existing.catch(() => undefined);
      if (conn?.isOpen) return conn;
      this.open.delete(pool);
    }
    const opening = connectPool(pool, this.where, this.options);
    this.open.set(pool, opening);
    opening.catch(() => this.open.delete(pool));
    return opening;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}
