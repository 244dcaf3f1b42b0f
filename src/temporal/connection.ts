// Connections to Temporal: the address and TLS material come from config (an existing cluster) or from the
// dev server this project started. A failed connection is a typed error that says what to fix
// (connectionErrors.ts), never a gRPC status text.
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { Config } from '../config.js';
import { XenimageError } from '../errors.js';
import { classifyTemporalError, probeEndpoint, TemporalConnectionError } from './connectionErrors.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  tls?: Config['temporal']['tls'];
}

/** TLS is on when any TLS setting is given: a CA (server verification), a client pair (mTLS), a server name. */
export async function tlsOptions(tls: TemporalTarget['tls']): Promise<ConnectionOptions['tls']> {
  if (!tls || (!tls.cert && !tls.key && !tls.ca && !tls.serverName)) return undefined;
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new XenimageError('InvalidInput', 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be given together', {
      retryable: false,
    });
  }
  const read = async (setting: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new XenimageError('InvalidInput', `${setting} ${file} cannot be read: ${(err as Error).message}`, {
        retryable: false,
      });
    }
  };
  const [crt, key, ca] = await Promise.all([
    read('TEMPORAL_TLS_CERT', tls.cert),
    read('TEMPORAL_TLS_KEY', tls.key),
    read('TEMPORAL_TLS_CA', tls.ca),
  ]);
  return {
    serverRootCACertificate: ca,
    clientCertPair: crt && key ? { crt, key } : undefined,
    serverNameOverride: tls.serverName,
  };
}

/** The typed error for a failed connection to `target` (a TLS handshake of our own says why when gRPC does not). */
export async function explainConnectionError(err: unknown, target: TemporalTarget): Promise<unknown> {
  const known = classifyTemporalError(err, target);
  if (known) return known;
  if (/before the deadline/i.test(String((err as Error)?.message))) {
    const probe = await probeEndpoint(target).catch(() => undefined);
    if (probe?.kind === 'unreachable')
      return new TemporalConnectionError(
        'TemporalUnavailable',
        `Temporal at ${target.address} cannot be reached: ${probe.reason}`,
        true,
        err,
      );
    if (probe?.kind === 'speaks-tls')
      return new TemporalConnectionError(
        'TemporalTlsMismatch',
        `Temporal at ${target.address} speaks TLS on this port, but this client does not: set TEMPORAL_TLS_CA (and TEMPORAL_TLS_CERT / _KEY for mTLS)`,
        false,
        err,
      );
    if (probe?.kind === 'tls-failed')
      return (
        classifyTemporalError(new Error(probe.reason, { cause: err }), target) ??
        new TemporalConnectionError(
          'TemporalTlsFailed',
          `TLS to Temporal at ${target.address} failed: ${probe.reason}`,
          false,
          err,
        )
      );
  }
  return err;
}

export async function connect(target: TemporalTarget, connectTimeoutMs?: number): Promise<Connection> {
  const tls = await tlsOptions(target.tls);
  try {
    return await Connection.connect({
      address: target.address,
      tls,
      ...(connectTimeoutMs ? { connectTimeout: connectTimeoutMs } : {}),
    });
  } catch (err) {
    throw await explainConnectionError(err, target);
  }
}

export async function createClient(target: TemporalTarget): Promise<Client> {
  const connection = await connect(target);
  return new Client({ connection, namespace: target.namespace });
}

/** Polls until the namespace answers (the server accepts connections before it serves namespaces). */
export async function waitForNamespace(
  target: TemporalTarget,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline && isAlive()) {
    try {
      const connection = await connect(target, 2000);
      try {
        await connection.workflowService.describeNamespace({ namespace: target.namespace });
        return connection;
      } catch (err) {
        await connection.close();
        throw err;
      }
    } catch (err) {
      // A refused certificate or a TLS mismatch does not heal by waiting.
      if (err instanceof XenimageError && !err.retryable) throw err;
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new XenimageError(
    'TemporalUnavailable',
    `Temporal at ${target.address} (namespace ${target.namespace}) did not answer: ${String((lastError as Error)?.message ?? lastError)}`,
    { retryable: true },
  );
}
