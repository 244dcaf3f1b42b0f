// What the engine does between a failed sysprep and the next attempt (after the revert to the pre-sysprep
// snapshot), per the failure signatures of docs/reference/windows.md §4.4:
// - remove-appx: Remove-AppxPackage for the package Panther named (installed for a user, not provisioned);
// - reboot: a reboot completes pending servicing and releases reserved storage;
// - script:<name>: an operator's PowerShell script kept on the worker (<stateDir>/remedies/<name>.ps1);
// - none: retry as is.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REMEDY_NAME } from '../../contracts/messages.js';
import { InvalidInputError, XenimageError } from '../../errors.js';
import { psQuote } from '../../winrm/powershell.js';
import { rebootAndWait } from './reboot.js';
import { GuestCommandFailed, openClient, runScript, type GuestContext } from './session.js';

export type Remedy =
  { kind: 'remove-appx'; package: string } | { kind: 'reboot' } | { kind: 'script'; name: string } | { kind: 'none' };

/** Parses an operator's remedy name (`remove-appx`, `reboot`, `none`, `script:<name>`); remove-appx takes the package of the last failure. */
export function parseRemedy(name: string, lastFailure?: { type: string; details?: Record<string, unknown> }): Remedy {
  if (!REMEDY_NAME.test(name))
    throw new InvalidInputError(`unknown remedy "${name}": remove-appx, reboot, none or script:<name>`);
  if (name === 'none') return { kind: 'none' };
  if (name === 'reboot') return { kind: 'reboot' };
  if (name.startsWith('script:')) return { kind: 'script', name: name.slice('script:'.length) };
  const pkg = lastFailure?.details?.package;
  if (typeof pkg !== 'string') throw new InvalidInputError('remove-appx needs a failure that named an AppX package');
  return { kind: 'remove-appx', package: pkg };
}

export function describeRemedy(r: Remedy): string {
  switch (r.kind) {
    case 'remove-appx':
      return `remove-appx ${r.package}`;
    case 'script':
      return `script:${r.name}`;
    default:
      return r.kind;
  }
}

export async function applyRemedy(
  ctx: GuestContext,
  remedy: Remedy,
  o: { remediesDir: string; timeoutMs: number },
): Promise<void> {
  if (remedy.kind === 'none') return;
  if (remedy.kind === 'reboot') return rebootAndWait(ctx, { timeoutMs: o.timeoutMs, issue: true });
  let script: string;
  if (remedy.kind === 'remove-appx') {
    if (!/^[A-Za-z0-9._~-]{3,255}$/.test(remedy.package))
      throw new InvalidInputError(`"${remedy.package}" is not an AppX package full name`);
    script = `$ErrorActionPreference = 'Stop'\r\nRemove-AppxPackage -Package ${psQuote(remedy.package)} -AllUsers`;
  } else {
    const file = path.join(o.remediesDir, `${remedy.name}.ps1`);
    try {
      script = await readFile(file, 'utf8');
    } catch {
      throw new XenimageError('RemedyScriptMissing', `remedy script ${file} does not exist on this worker`, {
        retryable: false,
        details: { remedy: remedy.name },
      });
    }
  }
  const client = openClient(ctx);
  try {
    const r = await runScript(client, ctx, script);
    if (r.exitCode !== 0) throw new GuestCommandFailed(`remedy ${describeRemedy(remedy)}`, r.exitCode, r.stderrText);
  } finally {
    client.close();
  }
}
