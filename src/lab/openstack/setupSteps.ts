// One-time setup commands (keystone-manage, glance-manage), each recorded in setup.json once it succeeded so a
// later start skips it. Their output goes to logs/setup.log; a failure names the step and that file.
import { execFile } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { XenimageError } from '../../errors.js';
import { PROGRAMS } from './packages.js';

const run = promisify(execFile);

export type SetupStep = 'keystoneDb' | 'fernetKeys' | 'credentialKeys' | 'keystoneBootstrap' | 'glanceDb';

export class SetupRecord {
  private constructor(
    private readonly file: string,
    private readonly done: Set<string>,
  ) {}

  static async load(file: string): Promise<SetupRecord> {
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as { done?: string[] };
      return new SetupRecord(file, new Set(data.done ?? []));
    } catch {
      return new SetupRecord(file, new Set());
    }
  }

  has(step: SetupStep): boolean {
    return this.done.has(step);
  }

  private saving: Promise<void> = Promise.resolve();

  /** Runs `body` unless the step is recorded as done, then records it (writes are serialised: steps run in parallel). */
  async once(step: SetupStep, body: () => Promise<void>): Promise<void> {
    if (this.done.has(step)) return;
    await body();
    this.done.add(step);
    this.saving = this.saving.then(() =>
      writeFile(this.file, JSON.stringify({ done: [...this.done].sort() }, null, 2) + '\n'),
    );
    await this.saving;
  }
}

export async function runSetupCommand(
  step: string,
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  await appendFile(logFile, `\n=== ${new Date().toISOString()} ${step}: ${command} ${args.join(' ')}\n`);
  try {
    const { stdout, stderr } = await run(command, args, { env, maxBuffer: 16 * 1024 * 1024 });
    await appendFile(logFile, stdout + stderr);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: unknown };
    await appendFile(logFile, (e.stdout ?? '') + (e.stderr ?? ''));
    throw new XenimageError(
      'OpenStackSetupFailed',
      `setup step ${step} failed (exit ${String(e.code)}); see ${logFile}`,
      { retryable: false, details: { step } },
    );
  }
}

/** SQLite in WAL mode: a reader (an open connection of the same service) no longer blocks a writer. */
export async function enableWal(db: string, logFile: string, env: NodeJS.ProcessEnv): Promise<void> {
  await runSetupCommand(
    'sqlite-wal',
    PROGRAMS.python,
    ['-c', 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("pragma journal_mode=wal")', db],
    logFile,
    env,
  );
}
