// A worker as operators run it — `xenimage worker` in its own process — so tests can kill it (SIGKILL) and
// read everything it logged.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './cli.js';
import { onTeardown } from './teardown.js';

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the worker wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves once the worker polls its task queues. */
  ready: Promise<void>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startWorkerProcess(env: Record<string, string>, pools: string[], args: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [CLI, 'worker', ...args, ...(pools.length ? ['--pool', ...pools] : [])], {
    env: { ...process.env, XENIMAGE_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
    if (text.includes('"workers running"')) onReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  onTeardown(() => kill('SIGKILL'));
  return {
    child,
    output: () => text,
    ready: Promise.race([
      ready,
      exited.then((code) => Promise.reject(new Error(`worker exited (${code}) before it was ready:\n${text}`))),
    ]),
    exited,
    kill,
  };
}
