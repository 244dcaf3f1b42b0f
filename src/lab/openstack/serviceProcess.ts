// A long-running service in its own process group (so its workers go with it), output appended to a log file,
// a pid file for finding it after a crash of the parent, and a bounded stop: SIGTERM to the group, wait,
// SIGKILL to the group. If the Node process dies without stopping it, the kernel sends the service SIGTERM
// (prctl PR_SET_PDEATHSIG, set by a two-line exec shim in Debian's Python; it survives the exec), so a
// crashed test run leaves no service behind.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the main process has exited (with its code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/** Sets the parent-death signal, refuses to run if the parent is already gone, then becomes the service. */
const PDEATHSIG_SHIM = [
  'import ctypes, os, signal, sys',
  'ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)',
  'sys.exit(1) if os.getppid() != int(sys.argv[1]) else os.execv(sys.argv[2], sys.argv[2:])',
].join('\n');

export interface SpawnServiceOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logFile: string;
  pidFile: string;
  /** A Python 3 interpreter for the exec shim. */
  python: string;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(pgid)) {
    signalGroup(pgid, 'SIGKILL');
    while (groupAlive(pgid)) await sleep(20);
  }
}

export function spawnService(opts: SpawnServiceOptions): ServiceProcess {
  const fd = openSync(opts.logFile, 'a');
  let child;
  try {
    const args = ['-c', PDEATHSIG_SHIM, String(process.pid), opts.command, ...opts.args];
    child = spawn(opts.python, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${opts.name} could not be started (${opts.command})`);
  writeFileSync(opts.pidFile, `${pid}\n`);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  return {
    name: opts.name,
    pid,
    exited,
    hasExited: () => done,
    async stop(graceMs = 10_000) {
      // The main process may be gone while workers of its group live on: always sweep the group.
      await stopGroup(pid, graceMs);
      await exited;
      rmSync(opts.pidFile, { force: true });
    },
  };
}

/**
 * Stops a service a previous run left behind (the parent died without stop()). Only a process whose command
 * line mentions `marker` (our config path) is touched, so a recycled pid of another program is left alone.
 */
export async function stopStaleService(pidFile: string, marker: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return false;
  }
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    // not running
  }
  const environ = (() => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      return '';
    }
  })();
  const ours = Number.isInteger(pid) && pid > 1 && (cmdline.includes(marker) || environ.includes(marker));
  if (ours) await stopGroup(pid, 5_000);
  rmSync(pidFile, { force: true });
  return ours;
}
