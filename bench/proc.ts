// Whole-process timing: a command runs as a child under GNU time (`/usr/bin/time`, Debian package `time`), which
// reports the kernel's own accounting of the finished child — user and system seconds, and the peak resident
// memory of the largest process it waited for. Wall time is read here around the child, start-up included.
// Commands of a group take turns run by run (A B A B …), so a change in the machine's load hits them alike.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface ProcCase {
  name: string;
  /** argv: a program and its arguments, run without a shell (use ['sh', '-c', …] for a pipe). */
  argv: string[];
  env?: Record<string, string>;
  /** Untimed, before every run of this case (e.g. remove the previous output). */
  before?: () => Promise<unknown>;
  /** Untimed, after every run: a check of the output; a throw fails the bench (a fast wrong answer is no result). */
  after?: () => Promise<unknown>;
}

export interface ProcRun {
  wallS: number;
  userS: number;
  sysS: number;
  cpuS: number;
  peakMiB: number;
}

export function requireGnuTime(): void {
  if (!existsSync(GNU_TIME)) {
    throw new Error(`${GNU_TIME} is missing: install GNU time (Debian/Ubuntu: apt-get install time)`);
  }
}

/** Runs `argv` once under GNU time; its output is discarded; a non-zero exit is an error with its stderr tail. */
export async function timeProcess(argv: string[], env?: Record<string, string>): Promise<ProcRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-bench-time-'));
  const report = path.join(dir, 'time');
  try {
    const start = process.hrtime.bigint();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(GNU_TIME, ['-o', report, '-f', '%U %S %M', ...argv], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...env },
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-2000)));
      child.once('error', reject);
      child.once('close', (c) => resolve({ code: c, stderr: err }));
    });
    const wallS = Number(process.hrtime.bigint() - start) / 1e9;
    if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`);
    const line = (await readFile(report, 'utf8')).trim().split('\n').pop() ?? '';
    const [user, sys, maxKiB] = line.split(' ').map(Number);
    if (![user, sys, maxKiB].every((v) => Number.isFinite(v))) throw new Error(`unreadable GNU time report: ${line}`);
    return { wallS, userS: user!, sysS: sys!, cpuS: user! + sys!, peakMiB: maxKiB! / 1024 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs every case `runs` times, in turns (a, b, c, a, b, c…), after `warmup` untimed rounds. `between` runs before
 * every timed run, untimed (e.g. `sync`, so no run pays for the previous one's writeback).
 */
export async function alternate(
  cases: ProcCase[],
  options: {
    runs: number;
    warmup?: number;
    between?: () => Promise<unknown>;
    onRun?: (name: string, r: ProcRun) => void;
  },
): Promise<Map<string, ProcRun[]>> {
  const results = new Map<string, ProcRun[]>(cases.map((c) => [c.name, []]));
  const rounds = (options.warmup ?? 1) + options.runs;
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      await c.before?.();
      await options.between?.();
      const r = await timeProcess(c.argv, c.env);
      await c.after?.();
      if (round >= (options.warmup ?? 1)) {
        results.get(c.name)!.push(r);
        options.onRun?.(c.name, r);
      }
    }
  }
  return results;
}
