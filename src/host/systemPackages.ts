// System packages a job needs: finds which of its programs are missing and, as root on Debian/Ubuntu, installs
// their packages with apt-get (one progress line); otherwise stops with one message naming each missing package
// and the command that installs them.
import { existsSync } from 'node:fs';
import { XenimageError, errorMessage } from '../errors.js';
import type { ToolSpec } from './catalog.js';
import { findTool, spawnTool } from './spawn.js';

/** What the decision to install depends on: the real machine by default; tests pass their own. */
export interface HostProbe {
  root: boolean;
  /** Debian or Ubuntu with apt-get. */
  debianLike: boolean;
  /** The environment programs are looked up in (PATH) and apt-get runs with. */
  env: NodeJS.ProcessEnv;
}

export function hostProbe(env: NodeJS.ProcessEnv = process.env): HostProbe {
  return {
    root: process.getuid?.() === 0,
    debianLike: existsSync('/etc/debian_version') && findTool('apt-get', env) !== undefined,
    env,
  };
}

export class SystemPackagesMissingError extends XenimageError {
  constructor(message: string, details: { packages: string[]; tools: string[] }) {
    super('SystemPackagesMissing', message, { retryable: false, details });
  }
}

/** The tools of `tools` that are not on this host. */
export function missingTools(tools: readonly ToolSpec[], env: NodeJS.ProcessEnv = process.env): ToolSpec[] {
  // A plugin (.so) is a file a program loads, not a program.
  return tools.filter((t) => !findTool(t.command, env, !t.command.endsWith('.so')));
}

function packagesOf(tools: readonly ToolSpec[]): string[] {
  return [...new Set(tools.map((t) => t.package))];
}

export function installCommand(packages: readonly string[], root: boolean): string {
  return `${root ? '' : 'sudo '}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

function describeMissing(missing: readonly ToolSpec[]): string {
  return packagesOf(missing)
    .map((pkg) => {
      const commands = missing.filter((t) => t.package === pkg).map((t) => t.command);
      return `${pkg} (${commands.join(', ')})`;
    })
    .join(', ');
}

export interface EnsureToolsOptions {
  /** For whom, in messages: e.g. "xenimage worker". */
  job: string;
  probe?: HostProbe;
  /** Where the progress line goes (default stderr): redrawn on a terminal, start and end lines otherwise. */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  /** A sentence appended to the message when nothing can be installed (e.g. how to avoid needing these). */
  alternative?: string;
}

/**
 * Makes sure every tool of `tools` is on this host: nothing to do when all are; as root on Debian/Ubuntu their
 * packages are installed; otherwise a SystemPackagesMissing error names each package and the install command.
 * Returns the packages it installed.
 */
export async function ensureTools(tools: readonly ToolSpec[], options: EnsureToolsOptions): Promise<string[]> {
  const probe = options.probe ?? hostProbe();
  const missing = missingTools(tools, probe.env);
  if (missing.length === 0) return [];
  const packages = packagesOf(missing);
  const tail = options.alternative ? ` ${options.alternative}` : '';
  if (!probe.root || !probe.debianLike) {
    const how = probe.debianLike
      ? `Install them with: ${installCommand(packages, false)}`
      : `Install what provides them with your system's package manager (Debian/Ubuntu: ${installCommand(packages, true)})`;
    throw new SystemPackagesMissingError(
      `${options.job} needs ${packages.length} system package${packages.length > 1 ? 's' : ''} that ${packages.length > 1 ? 'are' : 'is'} not installed: ${describeMissing(missing)}. ${how}.${tail}`,
      { packages, tools: missing.map((t) => t.command) },
    );
  }
  await aptInstall(packages, probe.env, options.progress ?? process.stderr);
  const still = missingTools(missing, probe.env);
  if (still.length > 0) {
    throw new SystemPackagesMissingError(
      `apt-get installed ${packages.join(' ')} but these are still missing: ${still.map((t) => t.command).join(', ')}`,
      { packages: packagesOf(still), tools: still.map((t) => t.command) },
    );
  }
  return packages;
}

/** One line that says what is being installed and how far it is. */
class ProgressLine {
  private shown = '';
  private readonly started = Date.now();

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly packages: readonly string[],
  ) {}

  private prefix(): string {
    const n = this.packages.length;
    return `installing ${n} package${n > 1 ? 's' : ''}: ${this.packages.join(' ')}`;
  }

  update(state: string): void {
    const line = `${this.prefix()} (${state})`;
    if (line === this.shown) return;
    if (this.out.isTTY) this.out.write(`\r\x1b[2K${line}`);
    else if (!this.shown) this.out.write(`${line}\n`);
    this.shown = line;
  }

  finish(ok: boolean): void {
    const seconds = Math.round((Date.now() - this.started) / 1000);
    const line = ok ? `${this.prefix()} (done in ${seconds}s)` : `${this.prefix()} (failed after ${seconds}s)`;
    this.out.write(this.out.isTTY ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }
}

/** Runs apt-get with its machine-readable status on fd 3; resolves with the exit code and the output's tail. */
function runApt(
  args: string[],
  env: NodeJS.ProcessEnv,
  onStatus: (line: string) => void,
): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnTool('apt-get', ['-o', 'APT::Status-Fd=3', ...args], {
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString('utf8')).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let pending = '';
    child.stdio[3]!.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onStatus(line);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, tail }));
  });
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => /^(E|W):|error/i.test(l))
      .pop() ??
    text.trim().split('\n').pop() ??
    ''
  );
}

async function aptInstall(
  packages: readonly string[],
  env: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream & { isTTY?: boolean },
): Promise<void> {
  const progress = new ProgressLine(out, packages);
  const wanted = new Set(packages);
  const installed = new Set<string>();
  const onStatus = (line: string) => {
    // dlstatus:<n>:<percent>:<text> while downloading; pmstatus:<package>:<percent>:<text> while dpkg runs.
    const [kind, subject, percent, text] = line.split(':');
    if (kind === 'dlstatus') progress.update(`downloading ${Math.round(Number(percent))}%`);
    if (kind === 'pmstatus' && subject && text?.startsWith('Installed') && wanted.has(subject)) installed.add(subject);
    if (kind === 'pmstatus') progress.update(`${installed.size}/${packages.length}`);
  };
  progress.update('updating the package lists');
  // A failed update (offline mirror) still leaves the lists apt has; the install says whether they suffice.
  await runApt(['update', '-q'], env, () => undefined).catch(() => undefined);
  progress.update(`0/${packages.length}`);
  let result: { code: number | null; tail: string };
  try {
    result = await runApt(
      ['install', '-y', '-q', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', ...packages],
      env,
      onStatus,
    );
  } catch (err) {
    progress.finish(false);
    throw new SystemPackagesMissingError(`apt-get could not run: ${errorMessage(err)}`, {
      packages: [...packages],
      tools: [],
    });
  }
  progress.finish(result.code === 0);
  if (result.code !== 0) {
    throw new SystemPackagesMissingError(
      `apt-get install ${packages.join(' ')} failed (exit ${result.code}): ${lastLine(result.tail)}`,
      { packages: [...packages], tools: [] },
    );
  }
}
