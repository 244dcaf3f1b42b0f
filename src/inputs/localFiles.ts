// Where a local input may be read: under a source folder after every link is resolved, never in the state,
// secrets or configuration folders, a regular file (no FIFO, device or directory), within a size cap. Checked
// before anything opens the file, so a FIFO never blocks and a device is never read.
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputRefusedError } from './errors.js';
import type { InputPolicy } from './policy.js';

export type LocalInputKind = 'source' | 'installer';

export interface CheckedFile {
  /** The file's real path (links resolved): what the caller opens. */
  path: string;
  size: number;
}

function inside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** A path with its links resolved; the path itself when it does not exist (nothing can be read there). */
async function real(p: string): Promise<string> {
  return realpath(p).catch(() => p);
}

function refuseOutside(file: string, kind: LocalInputKind, policy: InputPolicy): never {
  throw new InputRefusedError(
    'outside source folders',
    `${kind} ${file} is outside the folders inputs may read (${policy.sourceDirs.join(', ')}; set XENIMAGE_SOURCE_DIRS)`,
  );
}

export async function checkLocalInput(file: string, policy: InputPolicy, kind: LocalInputKind): Promise<CheckedFile> {
  if (!path.isAbsolute(file)) throw new InputRefusedError('outside source folders', `${kind} ${file} is not absolute`);
  const lexical = path.resolve(file);
  // First by name, touching nothing: a path outside every folder learns nothing about the file system.
  if (!policy.sourceDirs.some((d) => inside(lexical, d))) refuseOutside(file, kind, policy);

  let resolved: string;
  try {
    resolved = await realpath(lexical);
  } catch {
    throw new InputRefusedError('missing', `${kind} ${file} does not exist`);
  }
  const roots = await Promise.all(policy.sourceDirs.map(real));
  const containing = roots.filter((d) => inside(resolved, d));
  if (containing.length === 0) refuseOutside(file, kind, policy);
  for (const p of await Promise.all(policy.protectedPaths.map(real))) {
    if (inside(resolved, p)) throw new InputRefusedError('protected path', `${kind} ${file} is in a protected folder`);
  }
  // The state folder holds credentials and service data: only a source folder inside it opens part of it.
  const state = await real(policy.stateDir);
  if (inside(resolved, state) && !containing.some((d) => inside(d, state))) {
    throw new InputRefusedError('protected path', `${kind} ${file} is in the state folder`);
  }

  const st = await stat(resolved);
  if (!st.isFile()) throw new InputRefusedError('not a regular file', `${kind} ${file} is not a regular file`);
  const cap = kind === 'source' ? policy.maxSourceBytes : policy.maxInstallerBytes;
  if (st.size > cap) {
    throw new InputRefusedError('too large', `${kind} ${file} is larger than the ${kind} limit (${cap} bytes)`, {
      size: st.size,
      limit: cap,
    });
  }
  return { path: resolved, size: st.size };
}
