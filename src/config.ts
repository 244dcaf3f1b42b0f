// Configuration: defaults < optional file (XENIMAGE_CONFIG, JSON or YAML) < environment. Validated with zod;
// every error names the field and the variable or file key that set it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidInputError } from './errors.js';
import { DurationSchema } from './contracts/duration.js';
import { SECRET_NAME } from './contracts/secretRef.js';
import { parseCidr } from './inputs/cidr.js';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port');

/** A secret-name pattern: letters, digits, "_", ".", "-", and "*" for any run of them. */
const SecretPattern = z.string().regex(/^[A-Za-z0-9_.*-]{1,128}$/, 'a secret name, "*" for any characters');

/**
 * Which secret names each purpose may use (docs/decisions/secrets-0002-secret-scopes.md). A name is a build input
 * only when it matches `buildInput` and neither `pool` nor `cloud`, is not the build key, does not start with
 * "xenimage-" and is no pool's password in the pools file.
 */
const SecretScopesSchema = z
  .object({
    /** XAPI passwords of the pools file. */
    pool: z.array(SecretPattern).min(1).default(['xapi-*']),
    /** OpenStack credentials (clouds.yaml, the lab's Keystone users). */
    cloud: z.array(SecretPattern).min(1).default(['cloud-*', 'keystone-*', 'openstack-*']),
    /** What a workflow input may name: administrator passwords, product keys. */
    buildInput: z.array(SecretPattern).min(1).default(['*']),
  })
  .strict();

export type SecretScopes = z.infer<typeof SecretScopesSchema>;

const SecretsConfigSchema = z
  .object({
    /** The secrets folder (one file per secret, value only); default <stateDir>/secrets. */
    dir: z.string().min(1).optional(),
    /** The configured secret every worker holds, from which each build's generated secrets are derived. */
    buildKey: z.string().regex(SECRET_NAME).default('xenimage-build-key'),
    scopes: SecretScopesSchema.default({
      pool: ['xapi-*'],
      cloud: ['cloud-*', 'keystone-*', 'openstack-*'],
      buildInput: ['*'],
    }),
  })
  .strict();

export type SecretsConfig = z.infer<typeof SecretsConfigSchema>;

/** Where a workflow input may read (docs/decisions/inputs-0001-where-inputs-may-read-and-connect.md). */
const InputsConfigSchema = z
  .object({
    /** Folders local sources and installers may be read from; default <stateDir>/sources and <stateDir>/samples. */
    sourceDirs: z.array(z.string().min(1)).min(1).optional(),
    /** The largest local disk image an input may name (bytes). */
    maxSourceBytes: z
      .number()
      .int()
      .positive()
      .default(4 * 2 ** 40),
    /** The largest installer (PV tools, cloudbase-init) an input may name or download (bytes). */
    maxInstallerBytes: z
      .number()
      .int()
      .positive()
      .default(2 * 2 ** 30),
  })
  .strict();

/** An IPv4 or IPv6 network in CIDR notation. */
const CidrSchema = z.string().refine((s) => parseCidr(s) !== undefined, 'a network such as 10.1.0.0/16');

/** Where a workflow input may connect: public addresses, and the networks listed here. */
const NetworkConfigSchema = z
  .object({
    /** Networks an input URL may reach although they are loopback, link-local or private. */
    allow: z.array(CidrSchema).default([]),
  })
  .strict();
export const DEFAULT_SECRETS_CONFIG: SecretsConfig = SecretsConfigSchema.parse({});

export const ConfigSchema = z
  .object({
    /** Where the embedded services and the lab keep their state. */
    stateDir: z.string().min(1).default('.xenimage'),
    temporal: z
      .object({
        /** An existing cluster; unset = the project's own dev server. */
        address: hostPort.optional(),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default('xenimage'),
        tls: z
          .object({
            cert: z.string().optional(),
            key: z.string().optional(),
            ca: z.string().optional(),
            /** The name the server's certificate must carry when it differs from the address (TLS SNI too). */
            serverName: z.string().optional(),
          })
          .strict()
          .optional(),
        /** Dev server ports (0 = pick a free one). */
        port: z.number().int().min(0).max(65535).default(7233),
        uiPort: z.number().int().min(0).max(65535).default(8233),
      })
      .strict()
      .default({ namespace: 'default', taskQueue: 'xenimage', port: 7233, uiPort: 8233 }),
    worker: z
      .object({
        shutdownGraceTime: DurationSchema.default('5m'),
        maxConcurrentActivities: z.number().int().min(1).max(1000).default(20),
        /**
         * Activity slots of each pool's task queue. Waits there are cheap asynchronous polls, so slots are many;
         * what loads a pool is bounded by the pools file's `limits` (docs/decisions/builds-0003-pool-load-and-waits.md).
         */
        maxPoolActivities: z.number().int().min(1).max(2000).default(200),
        /** Prometheus bind address for the worker's metrics, e.g. 127.0.0.1:9464. */
        prometheus: hostPort.optional(),
      })
      .strict()
      .default({ shutdownGraceTime: '5m', maxConcurrentActivities: 20, maxPoolActivities: 200 }),
    openstack: z
      .object({ cloud: z.string().min(1).default('xenimage-lab') })
      .strict()
      .default({ cloud: 'xenimage-lab' }),
    lab: z
      .object({
        /** Scenario of the XenServer lab: a shipped name (src/lab/scenarios) or a JSON file. */
        scenario: z.string().min(1).default('default'),
        /** Latency factor of the lab (1 = realistic XAPI and Windows timings). */
        speed: z.number().positive().max(10).default(0.05),
      })
      .strict()
      .default({ scenario: 'default', speed: 0.05 }),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
    secrets: SecretsConfigSchema.default(DEFAULT_SECRETS_CONFIG),
    inputs: InputsConfigSchema.default({ maxSourceBytes: 4 * 2 ** 40, maxInstallerBytes: 2 * 2 ** 30 }),
    network: NetworkConfigSchema.default({ allow: [] }),
    hooks: z
      .object({
        /** Folders of operators' hook scripts (<dir>/<name>.ps1), searched in order; default <stateDir>/hooks. */
        dirs: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

/** Environment variable → config path. */
const ENV_KEYS: Record<string, string[]> = {
  XENIMAGE_STATE_DIR: ['stateDir'],
  TEMPORAL_ADDRESS: ['temporal', 'address'],
  TEMPORAL_NAMESPACE: ['temporal', 'namespace'],
  XENIMAGE_TASK_QUEUE: ['temporal', 'taskQueue'],
  TEMPORAL_TLS_CERT: ['temporal', 'tls', 'cert'],
  TEMPORAL_TLS_KEY: ['temporal', 'tls', 'key'],
  TEMPORAL_TLS_CA: ['temporal', 'tls', 'ca'],
  TEMPORAL_TLS_SERVER_NAME: ['temporal', 'tls', 'serverName'],
  XENIMAGE_TEMPORAL_PORT: ['temporal', 'port'],
  XENIMAGE_TEMPORAL_UI_PORT: ['temporal', 'uiPort'],
  XENIMAGE_SHUTDOWN_GRACE: ['worker', 'shutdownGraceTime'],
  XENIMAGE_MAX_ACTIVITIES: ['worker', 'maxConcurrentActivities'],
  XENIMAGE_MAX_POOL_ACTIVITIES: ['worker', 'maxPoolActivities'],
  XENIMAGE_PROMETHEUS: ['worker', 'prometheus'],
  OS_CLOUD: ['openstack', 'cloud'],
  XENIMAGE_LAB_SCENARIO: ['lab', 'scenario'],
  XENIMAGE_LAB_SPEED: ['lab', 'speed'],
  XENIMAGE_LOG_LEVEL: ['log', 'level'],
  XENIMAGE_SECRETS_DIR: ['secrets', 'dir'],
  XENIMAGE_BUILD_KEY: ['secrets', 'buildKey'],
  XENIMAGE_SOURCE_DIRS: ['inputs', 'sourceDirs'],
  XENIMAGE_NETWORK_ALLOW: ['network', 'allow'],
  XENIMAGE_HOOK_DIRS: ['hooks', 'dirs'],
};

/** Variables that hold a list: folders are colon-separated (like PATH), networks comma-separated. */
const LIST_KEYS: Record<string, string> = {
  XENIMAGE_SOURCE_DIRS: ':',
  XENIMAGE_NETWORK_ALLOW: ',',
  XENIMAGE_HOOK_DIRS: ':',
};

const NUMERIC_KEYS = new Set([
  'XENIMAGE_TEMPORAL_PORT',
  'XENIMAGE_TEMPORAL_UI_PORT',
  'XENIMAGE_MAX_ACTIVITIES',
  'XENIMAGE_MAX_POOL_ACTIVITIES',
  'XENIMAGE_LAB_SPEED',
]);

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`config file ${file} cannot be read: ${(err as Error).message}`);
  }
  try {
    const data: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    if (data === null || data === undefined) return {};
    if (typeof data !== 'object' || Array.isArray(data)) throw new Error('the top level must be an object');
    return data as Record<string, unknown>;
  } catch (err) {
    throw new InvalidInputError(`config file ${file} is not valid: ${(err as Error).message}`);
  }
}

/** Names a config path the way the operator set it: the env variable if one did, else the dotted key. */
function describeField(pathKeys: PropertyKey[], env: NodeJS.ProcessEnv, file?: string): string {
  const dotted = pathKeys.map(String).join('.');
  const envName = Object.entries(ENV_KEYS).find(
    ([, p]) => dotted === p.join('.') || dotted.startsWith(`${p.join('.')}.`), // a list item: its variable
  )?.[0];
  if (envName && env[envName] !== undefined) return `${dotted} (from $${envName})`;
  return file ? `${dotted} (in ${file})` : dotted;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.XENIMAGE_CONFIG ? path.resolve(env.XENIMAGE_CONFIG) : undefined;
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  for (const [name, keys] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const separator = LIST_KEYS[name];
    if (separator) {
      setPath(
        raw,
        keys,
        value
          .split(separator)
          .map((v) => v.trim())
          .filter(Boolean),
      );
      continue;
    }
    setPath(raw, keys, NUMERIC_KEYS.has(name) && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const field = issue.path.length ? describeField(issue.path, env, file) : '(top level)';
      return `${field}: ${issue.message}`;
    });
    throw new InvalidInputError(`invalid configuration: ${problems.join('; ')}`, { problems });
  }
  return result.data;
}

/** The secrets folder every activity and command reads: XENIMAGE_SECRETS_DIR, else <stateDir>/secrets. */
export function secretsDirOf(config: Config): string {
  return path.resolve(config.secrets.dir ?? path.join(config.stateDir, 'secrets'));
}
