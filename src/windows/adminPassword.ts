// The built-in Administrator's password for one build: generated (never typed by anyone), kept as a secret
// file so every activity can resolve it by reference, and removed with the build.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecretRef } from '../contracts/secretRef.js';
import { InvalidInputError } from '../errors.js';
import { registerSecretValue } from '../secrets.js';

/** 24 characters from all four classes Windows' complexity policy counts; no quote, %, ^ or & (cmd.exe-safe). */
export function generateWindowsPassword(): string {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#$*+-=?@_'];
  const chars = sets.map((s) => s[randomInt(s.length)]!);
  const all = sets.join('');
  const bytes = randomBytes(20);
  for (const b of bytes) chars.push(all[b % all.length]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

/** Writes a fresh password to `<secretsDir>/<buildId>.windows-admin` (0600) and returns its reference. */
export async function createBuildAdminPassword(o: { secretsDir: string; buildId: string }): Promise<SecretRef> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/.test(o.buildId))
    throw new InvalidInputError(`build id "${o.buildId}" cannot name a secret`);
  const name = `${o.buildId}.windows-admin`;
  const value = generateWindowsPassword();
  registerSecretValue(value);
  await mkdir(o.secretsDir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(o.secretsDir, name), value + '\n', { mode: 0o600, flag: 'w' });
  return { secret: name };
}

export async function removeBuildAdminPassword(o: { secretsDir: string; ref: SecretRef }): Promise<void> {
  await rm(path.join(o.secretsDir, o.ref.secret), { force: true });
}
