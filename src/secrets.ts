// The one way secrets are read: a SecretResolver, made once per worker process (and per CLI command) from the
// configuration. Configured secrets come from <secrets dir>/NAME, else $XENIMAGE_SECRET_<NAME>, and only for the
// purposes the configuration allows (docs/decisions/secrets-0002-secret-scopes.md); a build's generated secrets
// are derived from the build key, so every worker that holds the key finds them and nothing is ever written
// (docs/decisions/secrets-0001-derived-build-secrets.md). Every value read is remembered so the logger can scrub
// it from any line that would carry it (src/log.ts): a second line of defence behind "never log a secret".
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_SECRETS_CONFIG, secretsDirOf, type Config, type SecretScopes } from './config.js';
import { XenimageError } from './errors.js';
import {
  type AnySecretRef,
  type GeneratedSecretPurpose,
  type GeneratedSecretRef,
  GeneratedSecretRefSchema,
  type SecretRef,
  SecretRefSchema,
  secretEnvName,
} from './contracts/secretRef.js';
import { windowsPassword, type ByteBlocks } from './windows/adminPassword.js';

export { type SecretRef, SecretRefSchema } from './contracts/secretRef.js';

export class SecretMissingError extends XenimageError {
  constructor(name: string, where: string[]) {
    super('SecretMissing', `secret "${name}" is not set (looked in ${where.join(' and ')})`, {
      retryable: false,
      details: { secret: name },
    });
  }
}

/** A reference names a secret the configuration keeps for another purpose. */
export class SecretOutOfScopeError extends XenimageError {
  constructor(name: string, purpose: SecretPurpose, why: string) {
    super('SecretOutOfScope', `secret "${name}" cannot be used as ${PURPOSE_WORDS[purpose]}: ${why}`, {
      retryable: false,
      details: { secret: name, purpose },
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

/** What a configured secret is used for. */
export type SecretPurpose = 'pool' | 'cloud' | 'build-input';

const PURPOSE_WORDS: Record<SecretPurpose, string> = {
  pool: 'a pool credential',
  cloud: 'a cloud credential',
  'build-input': 'a build input',
};

const DEFAULT_BUILD_KEY = DEFAULT_SECRETS_CONFIG.buildKey;

/** Names xenimage keeps for itself (the build key's default among them): never a build input. */
const SYSTEM_PATTERN = 'xenimage-*';

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

function matchesAny(name: string, patterns: string[]): boolean {
  return patterns.some((p) => globToRegExp(p).test(name));
}

export interface SecretResolverOptions {
  /** The secrets folder: one file per secret, its whole content the value (a trailing newline is dropped). */
  dir: string;
  /** Where XENIMAGE_SECRET_<NAME> variables are read (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  scopes?: SecretScopes;
  /** Name of the build key (default xenimage-build-key). */
  buildKey?: string;
  /** Names other configuration already uses for a purpose (e.g. the pools file's passwords). */
  claimed?: () => Promise<Array<{ name: string; purpose: Exclude<SecretPurpose, 'build-input'> }>>;
}

export class SecretResolver {
  readonly dir: string;
  readonly buildKey: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly scopes: SecretScopes;
  private readonly claimed: NonNullable<SecretResolverOptions['claimed']>;

  constructor(options: SecretResolverOptions) {
    this.dir = path.resolve(options.dir);
    this.env = options.env ?? process.env;
    this.scopes = options.scopes ?? DEFAULT_SECRETS_CONFIG.scopes;
    this.buildKey = options.buildKey ?? DEFAULT_BUILD_KEY;
    this.claimed = options.claimed ?? (() => Promise.resolve([]));
  }

  /** Refuses (typed, non-retryable) a name the configuration does not allow for this purpose. */
  async assertInScope(name: string, purpose: SecretPurpose): Promise<void> {
    if (name === this.buildKey || matchesAny(name, [SYSTEM_PATTERN]))
      throw new SecretOutOfScopeError(name, purpose, 'xenimage keeps it for itself');
    if (purpose === 'pool' && !matchesAny(name, this.scopes.pool))
      throw new SecretOutOfScopeError(name, purpose, `pool credentials match ${this.scopes.pool.join(', ')}`);
    if (purpose === 'cloud' && !matchesAny(name, this.scopes.cloud))
      throw new SecretOutOfScopeError(name, purpose, `cloud credentials match ${this.scopes.cloud.join(', ')}`);
    if (purpose !== 'build-input') return;
    if (!matchesAny(name, this.scopes.buildInput))
      throw new SecretOutOfScopeError(name, purpose, `build inputs match ${this.scopes.buildInput.join(', ')}`);
    if (matchesAny(name, this.scopes.pool)) throw new SecretOutOfScopeError(name, purpose, 'it is a pool credential');
    if (matchesAny(name, this.scopes.cloud)) throw new SecretOutOfScopeError(name, purpose, 'it is a cloud credential');
    const claim = (await this.claimed()).find((c) => c.name === name);
    if (claim) throw new SecretOutOfScopeError(name, purpose, `it is ${PURPOSE_WORDS[claim.purpose]}`);
  }

  /** A configured secret's value, for a purpose its name is allowed for. */
  async resolve(ref: SecretRef, purpose: SecretPurpose): Promise<string> {
    const { secret: name } = SecretRefSchema.parse(ref);
    await this.assertInScope(name, purpose);
    return this.read(name);
  }

  /** Checks that every reference is allowed and resolves, without returning values (before anything is created). */
  async check(refs: SecretRef[], purpose: SecretPurpose): Promise<void> {
    for (const ref of refs) await this.resolve(ref, purpose);
  }

  /**
   * A build's generated secret: HMAC-SHA-256 of the build key over `<build identity>/<purpose>` (and a block
   * counter when more bytes are needed), shaped for its purpose. The same on every worker that holds the key;
   * nothing is written anywhere.
   */
  async derive(ref: GeneratedSecretRef): Promise<string> {
    const { generated, build } = GeneratedSecretRefSchema.parse(ref);
    const key = await this.read(this.buildKey);
    const value = GENERATED_SHAPES[generated]((block) =>
      createHmac('sha256', key).update(`${build}/${generated}`).update(counterBytes(block)).digest(),
    );
    registerSecretValue(value);
    return value;
  }

  /** Whether this worker holds the build key (it cannot derive a build's generated secrets without it). */
  async hasBuildKey(): Promise<boolean> {
    try {
      await this.read(this.buildKey);
      return true;
    } catch (err) {
      if (err instanceof SecretMissingError) return false;
      throw err;
    }
  }

  /** Either kind of reference: a configured one (for `purpose`) or a generated one. */
  async resolveAny(ref: AnySecretRef, purpose: SecretPurpose): Promise<string> {
    return 'secret' in ref ? this.resolve(ref, purpose) : this.derive(ref);
  }

  private async read(name: string): Promise<string> {
    const file = path.join(this.dir, name);
    try {
      const value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
      registerSecretValue(value);
      return value;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const envName = secretEnvName(name);
    const fromEnv = this.env[envName];
    if (fromEnv !== undefined && fromEnv !== '') {
      registerSecretValue(fromEnv);
      return fromEnv;
    }
    throw new SecretMissingError(name, [file, '$' + envName]);
  }
}

/** The resolver of a worker or a command: the configured folder, build key and scopes. */
export function secretResolverFor(
  config: Config,
  extra: Pick<SecretResolverOptions, 'env' | 'claimed'> = {},
): SecretResolver {
  return new SecretResolver({
    dir: secretsDirOf(config),
    buildKey: config.secrets.buildKey,
    scopes: config.secrets.scopes,
    ...extra,
  });
}

/** How each kind of generated secret is made from the derivation's bytes. */
const GENERATED_SHAPES: Record<GeneratedSecretPurpose, (blocks: ByteBlocks) => string> = {
  'windows-admin': windowsPassword,
};

/** The first block of a derivation is HMAC(key, message), later ones HMAC(key, message || counter). */
function counterBytes(counter: number): Buffer {
  if (counter === 0) return Buffer.alloc(0);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(counter);
  return b;
}

/**
 * Makes the build key (32 random bytes, hex, 0600) in the secrets folder unless it or its variable exists. For
 * `xenimage up` and `lab`; production workers are given the same key by their operators.
 */
export async function ensureBuildKey(
  dir: string,
  name = DEFAULT_BUILD_KEY,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  if (env[secretEnvName(name)]) return false;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(path.join(dir, name), randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}
