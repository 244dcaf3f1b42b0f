// Operators' hook scripts (issue 13, item 4): PowerShell files found by name in the configured hook folders, run in
// the guest at afterInstall, beforeCloudbaseInit and beforeSysprep. The script travels over stdin into a file under
// C:\Windows\Temp (a command line holds only a few KB), runs with `powershell -File`, and is deleted. Every output
// line goes to the worker's log, scrubbed; the last lines are kept, and a failure is HookFailed with them.
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { HOOK_NAME, type HookPoint, type HookRunRecord } from '../../contracts/windowsGuestInput.js';
import { XenimageError } from '../../errors.js';
import { decodeClixml } from '../../winrm/index.js';
import { psQuote } from '../../winrm/powershell.js';
import { GuestCommandFailed, logger, openClient, runCmd, runScript, type GuestContext } from './session.js';

/** The largest hook script accepted. */
export const MAX_HOOK_BYTES = 1024 * 1024;
/** Output lines kept per hook in the result and in a failure. */
export const HOOK_TAIL_LINES = 20;

function inside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function refused(name: string, why: string): XenimageError {
  return new XenimageError('HookRefused', `hook "${name}": ${why}`, { retryable: false, details: { name } });
}

/**
 * The script file of hook `name`: the first `<dir>/<name>.ps1` that exists, checked as the input policy checks a
 * local input (docs/decisions/inputs-0001-where-inputs-may-read-and-connect.md): a plain name, still under its hook
 * folder once every link is resolved, a regular file within MAX_HOOK_BYTES (HookRefused otherwise); HookMissing
 * when no folder has it. All non-retryable: the same input fails the same way.
 */
export async function findHook(dirs: string[], name: string): Promise<string> {
  if (!HOOK_NAME.test(name) || name.includes('..'))
    throw new XenimageError('InvalidInput', `"${name}" is not a hook name (letters, digits, ".", "_", "-")`, {
      retryable: false,
    });
  for (const dir of dirs) {
    const root = await realpath(dir).catch(() => undefined);
    if (!root) continue;
    const resolved = await realpath(path.join(root, `${name}.ps1`)).catch(() => undefined);
    if (!resolved) continue;
    if (!inside(resolved, root)) throw refused(name, `${name}.ps1 in ${dir} leads outside that hook folder`);
    const st = await stat(resolved);
    if (!st.isFile()) throw refused(name, `${name}.ps1 in ${dir} is not a regular file`);
    if (st.size > MAX_HOOK_BYTES) throw refused(name, `${name}.ps1 is larger than ${MAX_HOOK_BYTES} bytes`);
    return resolved;
  }
  throw new XenimageError(
    'HookMissing',
    `hook "${name}" does not exist: no ${name}.ps1 in the hook folders (${dirs.join(', ') || 'none configured'})`,
    { retryable: false, details: { name, dirs } },
  );
}

/** Runs one hook in the guest; HookFailed (non-retryable) with its last lines when it exits non-zero. */
export async function runHook(
  ctx: GuestContext,
  o: { point: HookPoint; name: string; file: string; scrub: (line: string) => string },
): Promise<HookRunRecord> {
  const started = Date.now();
  const text = await readFile(o.file, 'utf8');
  // The file may have changed since findHook looked at it.
  if (Buffer.byteLength(text) > MAX_HOOK_BYTES) throw refused(o.name, `larger than ${MAX_HOOK_BYTES} bytes`);
  const guestFile = `C:\\Windows\\Temp\\xenimage-hook-${o.name}.ps1`;
  const log = logger(ctx).child({ hook: o.name, point: o.point });
  const client = openClient(ctx);
  let exitCode: number;
  let output: string;
  try {
    const copy = await runScript(
      client,
      ctx,
      `$ErrorActionPreference = 'Stop'\r\n$text = [Console]::In.ReadToEnd()\r\nSet-Content -Path ${psQuote(guestFile)} -Value $text -NoNewline`,
      { stdin: text },
    );
    if (copy.exitCode !== 0)
      throw new GuestCommandFailed(`copying hook ${o.name}`, copy.exitCode, copy.stderrText, true);
    const r = await runCmd(client, ctx, 'powershell.exe', [
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-File',
      guestFile,
    ]);
    exitCode = r.exitCode;
    output = [r.stdoutText, await decodeClixml(r.stderrText)].filter(Boolean).join('\n');
    await runScript(client, ctx, `Remove-Item -Path ${psQuote(guestFile)} -Force -ErrorAction SilentlyContinue`);
  } finally {
    client.close();
  }
  const lines = output
    .split(/\r?\n/)
    .map((l) => o.scrub(l.trimEnd()))
    .filter(Boolean);
  for (const line of lines) log.info({ line }, 'hook output');
  const tail = lines.slice(-HOOK_TAIL_LINES);
  if (exitCode !== 0)
    throw new XenimageError(
      'HookFailed',
      `hook "${o.name}" (${o.point}) failed with exit code ${exitCode}; last lines: ${tail.slice(-5).join(' | ') || 'no output'}`,
      { retryable: false, details: { name: o.name, point: o.point, exitCode, lines: tail } },
    );
  return { point: o.point, name: o.name, exitCode, lines: tail, elapsedMs: Date.now() - started };
}
