// Local state is private to the user that runs xenimage: the state folder 0700, the secrets folder 0700 with
// 0600 files, every file holding a credential 0600 (also when it existed before with wider modes), and a umask
// that keeps what the services write (databases, logs, keys) to the same user.
import { chmod, lstat, mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Creates `dir` 0700, or tightens it to 0700 when it exists. */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Writes a file only its owner can read (0600), replacing any earlier one atomically. */
export async function writePrivateFile(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** The secrets folder 0700 and each file in it 0600 (links are left alone: they are not ours to change). */
export async function makeSecretsPrivate(secretsDir: string): Promise<void> {
  await makePrivateDir(secretsDir);
  for (const name of await readdir(secretsDir)) {
    const file = path.join(secretsDir, name);
    const st = await lstat(file);
    if (st.isFile() && (st.mode & 0o077) !== 0) await chmod(file, 0o600);
  }
}

/**
 * For a process that serves from the state folder (`up`, `worker`): files and folders it and its children
 * create from now on are private (umask 077), the state folder is 0700, the secrets folder 0700 with 0600 files.
 */
export async function makeStatePrivate(stateDir: string, secretsDir?: string): Promise<void> {
  process.umask(0o077);
  await makePrivateDir(stateDir);
  if (secretsDir) await makeSecretsPrivate(secretsDir);
}
