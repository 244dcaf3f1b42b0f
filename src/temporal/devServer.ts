// The Temporal dev server (server + Web UI + SQLite) that the project runs when no cluster is configured.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { XenimageError } from '../errors.js';
import type { Logger } from '../log.js';
import { freePort, isListening } from '../net/freePort.js';
import { startChild } from '../process/child.js';
import { SEARCH_ATTRIBUTES } from '../contracts/searchAttributes.js';
import { ensureTemporalCli } from './cliBinary.js';
import { waitForNamespace } from './connection.js';
import { ensureSearchAttributes } from './searchAttributes.js';

export interface DevServerOptions {
  stateDir: string;
  namespace: string;
  /** Preferred ports; taken when free, otherwise the kernel picks (0 = always pick). */
  port: number;
  uiPort: number;
  logger: Logger;
  startupTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string;
  dbFile: string;
  connection: Connection;
  stop(): Promise<void>;
}

async function choosePort(preferred: number): Promise<number> {
  if (preferred > 0 && !(await isListening('127.0.0.1', preferred))) return preferred;
  return freePort();
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { logger, namespace } = options;
  const binary = await ensureTemporalCli(logger);
  const dir = path.join(options.stateDir, 'temporal');
  await mkdir(dir, { recursive: true });
  const dbFile = path.join(dir, 'temporal.sqlite');
  const port = await choosePort(options.port);
  let uiPort = await choosePort(options.uiPort);
  if (uiPort === port) uiPort = await freePort();
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    '--log-format',
    'json',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    ...SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  const logFile = path.join(dir, 'server.log');
  const child = startChild(binary, args, { logFile });
  let exited = false;
  void child.exited.then(() => (exited = true));
  const address = `127.0.0.1:${port}`;
  let connection: Connection;
  try {
    connection = await waitForNamespace({ address, namespace }, options.startupTimeoutMs ?? 90_000, () => !exited);
  } catch (err) {
    await child.stop(2000);
    throw new XenimageError('TemporalDevServerFailed', `the Temporal dev server did not start (see ${logFile})`, {
      cause: err,
      retryable: false,
    });
  }
  const added = await ensureSearchAttributes(connection, namespace);
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  logger.info({ address, uiUrl, dbFile, searchAttributesAdded: added }, 'Temporal dev server ready');
  return {
    address,
    namespace,
    uiUrl,
    dbFile,
    connection,
    async stop() {
      await connection.close().catch(() => undefined);
      await child.stop(15_000);
    },
  };
}
