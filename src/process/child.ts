// Long-running child processes (Temporal dev server, Keystone, Glance, …): started in their own process
// group so stop() reaches every descendant, output appended to a log file, stopped with SIGTERM and then
// SIGKILL after a bound. Children still running when this process exits are killed with it.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { spawnTool } from '../host/spawn.js';

export interface ManagedChild {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ManagedChild>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function startChild(
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ManagedChild {
  const fd = openSync(options.logFile, 'a');
  const spawnOptions: SpawnOptions = {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: options.env ?? process.env,
    cwd: options.cwd,
  };
  let proc: ChildProcess;
  try {
    proc = spawnTool(command, args, spawnOptions);
  } finally {
    closeSync(fd);
  }
  if (proc.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = proc.pid;
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    proc.once('error', () => {
      running.delete(child);
      resolve('spawn-error');
    });
  });
  const child: ManagedChild = {
    pid,
    process: proc,
    exited,
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      signalGroup(pid, 'SIGKILL'); // stragglers of the group
    },
  };
  running.add(child);
  installExitHook();
  return child;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}
