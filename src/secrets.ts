// Resolves secret references inside activities and CLI commands. Every resolved value is remembered so the
// logger can scrub it from any line that would carry it (src/log.ts): a second line of defence behind
// "never log a secret".
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { XenimageError } from './errors.js';
import { type SecretRef, SecretRefSchema, secretEnvName } from './contracts/secretRef.js';

export { type SecretRef, SecretRefSchema } from './contracts/secretRef.js';

export class SecretMissingError extends XenimageError {
  constructor(name: string, where: string[]) {
    super('SecretMissing', `secret "${name}" is not set (looked in ${where.join(' and ')})`, {
      retryable: false,
      details: { secret: name },
    });
  }
}

const knownValues = new Set<string>();

/** Values resolved so far in this process (for log scrubbing); never exported as a list. */
export function forEachKnownSecret(fn: (value: string) => void): void {
  for (const v of knownValues) fn(v);
}

/** Registers a value that must never be logged (e.g. a generated password or a token). */
export function registerSecretValue(value: string): void {
  if (value.length >= 4) knownValues.add(value);
}

export interface SecretSource {
  dir?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export async function resolveSecret(ref: SecretRef, source: SecretSource = {}): Promise<string> {
  const { secret: name } = SecretRefSchema.parse(ref);
  const env = source.env ?? process.env;
  const dir = source.dir ?? env.XENIMAGE_SECRETS_DIR;
  const envName = secretEnvName(name);
  const where: string[] = [];
  if (dir) {
    const file = path.join(dir, name);
    where.push(file);
    try {
      const value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
      registerSecretValue(value);
      return value;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  } else {
    where.push('XENIMAGE_SECRETS_DIR (unset)');
  }
  where.push('$' + envName);
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== '') {
    registerSecretValue(fromEnv);
    return fromEnv;
  }
  throw new SecretMissingError(name, where);
}

/** Checks that a secret resolves, without returning its value (input validation before anything is created). */
export async function assertSecretExists(ref: SecretRef, source: SecretSource = {}): Promise<void> {
  await resolveSecret(ref, source);
}
