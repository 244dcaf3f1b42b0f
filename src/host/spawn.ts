// The one place xenimage starts external programs. A program that is not installed is a typed, non-retryable
// ToolMissing error naming the package that provides it, never Node's `spawn … ENOENT`: the program is looked
// up (on the PATH the child will get) before it is started, and an ENOENT that still comes back (the program
// removed in between) is turned into the same error.
import { execFile, spawn, type ChildProcess, type ExecFileOptions, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { XenimageError } from '../errors.js';
import { packageOf } from './catalog.js';

const execFileAsync = promisify(execFile);

export class ToolMissingError extends XenimageError {
  constructor(command: string, pkg = packageOf(command)) {
    const install = pkg ? ` (Debian/Ubuntu package ${pkg}: apt-get install ${pkg})` : '';
    super('ToolMissing', `${command} is not installed${install}`, {
      retryable: false,
      details: { tool: command, ...(pkg ? { package: pkg } : {}) },
    });
  }
}

function usable(file: string, executable: boolean): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, executable ? constants.X_OK : constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `command` is: an absolute (or relative) path is checked as it is; a bare name is looked up on `PATH`.
 * `executable: false` checks a file a program loads (a plugin) rather than a program.
 */
export function findTool(command: string, env: NodeJS.ProcessEnv = process.env, executable = true): string | undefined {
  if (command.includes('/')) return usable(command, executable) ? path.resolve(command) : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    if (usable(candidate, true)) return candidate;
  }
  return undefined;
}

function isSpawnEnoent(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return e?.code === 'ENOENT' && typeof e.syscall === 'string' && e.syscall.startsWith('spawn');
}

function spawnToolImpl(
  command: string,
  argsOrOptions?: readonly string[] | SpawnOptions,
  maybeOptions?: SpawnOptions,
): ChildProcess {
  const args = Array.isArray(argsOrOptions) ? (argsOrOptions as readonly string[]) : [];
  const options = (Array.isArray(argsOrOptions) ? maybeOptions : (argsOrOptions as SpawnOptions | undefined)) ?? {};
  const env = options.env ?? process.env;
  if (!findTool(command, env)) throw new ToolMissingError(command);
  const child = spawn(command, args, options);
  // Removed between the look-up and the start: the child's 'error' event carries the typed error instead.
  const emit = child.emit.bind(child);
  child.emit = ((event: string | symbol, ...rest: unknown[]) =>
    event === 'error' && isSpawnEnoent(rest[0]) && !findTool(command, env)
      ? emit('error', new ToolMissingError(command))
      : emit(event, ...rest)) as typeof child.emit;
  return child;
}

/** `child_process.spawn` (same signatures) for an external program; throws ToolMissing when it is not installed. */
export const spawnTool = spawnToolImpl as typeof spawn;

export interface ToolOutput {
  stdout: string;
  stderr: string;
}

/**
 * `execFile` as a promise for an external program (output as text); throws ToolMissing when it is not installed.
 * Other failures are execFile's errors (with `code`, `stdout`, `stderr`).
 */
export async function runTool(
  command: string,
  args: readonly string[],
  options: ExecFileOptions = {},
): Promise<ToolOutput> {
  const env = options.env ?? process.env;
  if (!findTool(command, env)) throw new ToolMissingError(command);
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { maxBuffer: 16 * 1024 * 1024, ...options });
    return { stdout: String(stdout), stderr: String(stderr) };
  } catch (err) {
    if (isSpawnEnoent(err) && !findTool(command, env)) throw new ToolMissingError(command);
    throw err;
  }
}
