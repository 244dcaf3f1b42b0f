// Connections to Temporal: the address and TLS material come from config (an existing cluster) or from the
// dev server this project started.
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { Config } from '../config.js';
import { XenimageError } from '../errors.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  tls?: Config['temporal']['tls'];
}

export async function tlsOptions(tls: TemporalTarget['tls']): Promise<ConnectionOptions['tls']> {
  if (!tls || (!tls.cert && !tls.key && !tls.ca)) return undefined;
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new XenimageError('InvalidInput', 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be given together', {
      retryable: false,
    });
  }
  const read = async (file: string | undefined) => (file ? readFile(file) : undefined);
  const [crt, key, ca] = await Promise.all([read(tls.cert), read(tls.key), read(tls.ca)]);
  return {
    serverRootCACertificate: ca,
    clientCertPair: crt && key ? { crt, key } : undefined,
  };
}

export async function connect(target: TemporalTarget): Promise<Connection> {
  return Connection.connect({ address: target.address, tls: await tlsOptions(target.tls) });
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
      const connection = await Connection.connect({
        address: target.address,
        tls: await tlsOptions(target.tls),
        connectTimeout: 2000,
      });
      try {
        await connection.workflowService.describeNamespace({ namespace: target.namespace });
        return connection;
      } catch (err) {
        await connection.close();
        throw err;
      }
    } catch (err) {
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
