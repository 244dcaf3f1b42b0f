// Passwords of the lab's Keystone users: generated once, kept 0600 under <stateDir>/secrets/, registered with
// the logger's scrubber every time they are read.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { registerSecretValue } from '../../secrets.js';

export async function loadOrCreatePassword(secretsDir: string, name: string): Promise<string> {
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  await chmod(secretsDir, 0o700);
  const file = path.join(secretsDir, name);
  let value: string;
  try {
    value = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    value = randomBytes(24).toString('base64url');
    await writeFile(file, value + '\n', { mode: 0o600, flag: 'wx' });
  }
  registerSecretValue(value);
  return value;
}
