// Reads a cloud from clouds.yaml the way openstacksdk does: the file named by OS_CLIENT_CONFIG_FILE first, then
// ./clouds.yaml, ~/.config/openstack/clouds.yaml and /etc/openstack/clouds.yaml (the first that exists wins;
// .yml and .json spellings too), secure.yaml from the same places (or OS_CLIENT_SECURE_FILE) merged over it, and
// the cloud named by the argument or OS_CLOUD. Errors name the cloud, file and field, never a value.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorMessage } from '../errors.js';
import { registerSecretValue } from '../secrets.js';
import { CloudConfigError } from './errors.js';

export type Interface = 'public' | 'internal' | 'admin';

export type CloudAuth =
  | {
      type: 'password';
      authUrl: string;
      user: { id: string } | { name: string; domain: { id: string } | { name: string } };
      password: string;
      project: { id: string } | { name: string; domain: { id: string } | { name: string } };
    }
  | {
      type: 'v3applicationcredential';
      authUrl: string;
      /** By id, or by name together with the owning user. */
      credential:
        | { id: string }
        | { name: string; user: { id: string } | { name: string; domain: { id: string } | { name: string } } };
      secret: string;
    };

export interface CloudConfig {
  name: string;
  /** The clouds.yaml the cloud came from. */
  file: string;
  auth: CloudAuth;
  regionName?: string;
  interface: Interface;
  verify: boolean;
  cacert?: string;
  /** openstacksdk's `image_endpoint_override`: Glance at this URL instead of the catalog's (e.g. behind a proxy). */
  imageEndpointOverride?: string;
  /**
   * xenimage's `allow_http: true`: plain http to Keystone and Glance is accepted (with one warning when the cloud
   * is opened). Without it an http auth_url, override or catalog URL is refused
   * (docs/decisions/openstack-0004-plain-http-endpoints.md). `insecure` keeps its clouds.yaml meaning (no TLS check).
   */
  allowHttp?: boolean;
}

export interface LoadCloudOptions {
  env?: NodeJS.ProcessEnv;
  /** Use this clouds.yaml instead of searching (a test or an explicit --os-config-file). */
  file?: string;
  /** Defaults to the process's working directory (where ./clouds.yaml is looked for). */
  cwd?: string;
}

const EXTENSIONS = ['yaml', 'yml', 'json'];

function candidates(base: string, envFile: string | undefined, cwd: string): string[] {
  const dirs = [cwd, path.join(os.homedir(), '.config', 'openstack'), '/etc/openstack'];
  const files = dirs.flatMap((dir) => EXTENSIONS.map((ext) => path.join(dir, `${base}.${ext}`)));
  return envFile ? [envFile, ...files] : files;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CloudConfigError('CloudConfigInvalid', `${file} cannot be read: ${errorMessage(err)}`, { file });
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    // The parser's message may quote the offending line, which can hold a password: keep only its position.
    const where =
      err instanceof Error && 'linePos' in err ? ` (${JSON.stringify((err as { linePos: unknown }).linePos)})` : '';
    throw new CloudConfigError('CloudConfigInvalid', `${file} is not valid YAML/JSON${where}`, { file });
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new CloudConfigError('CloudConfigInvalid', `${file}: the top level must be a mapping`, { file });
  }
  return data as Record<string, unknown>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isRecord(prev) && isRecord(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

/** A string field, or undefined; anything else (a number, a list) is a typed error naming the field. */
function str(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') throw new CloudConfigError('CloudConfigInvalid', `${where}: ${key} must be a string`);
  return v;
}

function domainRef(
  auth: Record<string, unknown>,
  kind: 'user' | 'project',
  where: string,
): { id: string } | { name: string } {
  const id = str(auth, `${kind}_domain_id`, where) ?? str(auth, 'domain_id', where);
  if (id) return { id };
  const name = str(auth, `${kind}_domain_name`, where) ?? str(auth, 'domain_name', where);
  // keystoneauth's default domain when none is named.
  return name ? { name } : { id: 'default' };
}

function parseAuth(cloud: Record<string, unknown>, where: string): CloudAuth {
  const authType = str(cloud, 'auth_type', where) ?? 'password';
  const auth = cloud.auth;
  if (!isRecord(auth))
    throw new CloudConfigError('CloudConfigInvalid', `${where}: the auth section is missing`, { field: 'auth' });
  const authUrl = str(auth, 'auth_url', where);
  const need = (field: string): never => {
    throw new CloudConfigError('CloudConfigInvalid', `${where}: auth.${field} is required for auth_type ${authType}`, {
      field: `auth.${field}`,
    });
  };
  if (!authUrl) need('auth_url');
  const url = authUrl!;
  if (authType === 'password' || authType === 'v3password') {
    const userId = str(auth, 'user_id', where);
    const username = str(auth, 'username', where);
    const user = userId
      ? { id: userId }
      : username
        ? { name: username, domain: domainRef(auth, 'user', where) }
        : need('username');
    const password = str(auth, 'password', where) ?? need('password');
    const projectId = str(auth, 'project_id', where) ?? str(auth, 'tenant_id', where);
    const projectName = str(auth, 'project_name', where) ?? str(auth, 'tenant_name', where);
    const project = projectId
      ? { id: projectId }
      : projectName
        ? { name: projectName, domain: domainRef(auth, 'project', where) }
        : need('project_name');
    registerSecretValue(password);
    return { type: 'password', authUrl: url, user, password, project };
  }
  if (authType === 'v3applicationcredential' || authType === 'application_credential') {
    const secret = str(auth, 'application_credential_secret', where) ?? need('application_credential_secret');
    const id = str(auth, 'application_credential_id', where);
    let credential: Extract<CloudAuth, { type: 'v3applicationcredential' }>['credential'];
    if (id) credential = { id };
    else {
      const name = str(auth, 'application_credential_name', where) ?? need('application_credential_id');
      const userId = str(auth, 'user_id', where);
      const username = str(auth, 'username', where);
      const user = userId
        ? { id: userId }
        : username
          ? { name: username, domain: domainRef(auth, 'user', where) }
          : need('username');
      credential = { name, user };
    }
    registerSecretValue(secret);
    return { type: 'v3applicationcredential', authUrl: url, credential, secret };
  }
  throw new CloudConfigError(
    'CloudConfigInvalid',
    `${where}: auth_type "${authType}" is not supported (use password or v3applicationcredential)`,
    {
      field: 'auth_type',
    },
  );
}

/** Finds and parses one cloud. The returned config holds the password: pass it to openCloud, never log it. */
export function loadCloud(name?: string, options: LoadCloudOptions = {}): CloudConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const searched = options.file ? [options.file] : candidates('clouds', env.OS_CLIENT_CONFIG_FILE, cwd);
  const file = searched.find((f) => existsSync(f));
  if (!file) {
    throw new CloudConfigError(
      'CloudNotFound',
      `no clouds.yaml found (looked in ${searched.join(', ')}); set OS_CLIENT_CONFIG_FILE or OS_CLOUD to an existing cloud`,
    );
  }
  const clouds = readConfigFile(file).clouds;
  if (!isRecord(clouds)) throw new CloudConfigError('CloudConfigInvalid', `${file} has no "clouds" mapping`, { file });
  const secureFile = candidates('secure', env.OS_CLIENT_SECURE_FILE, cwd).find((f) => existsSync(f));
  const secure = secureFile ? readConfigFile(secureFile).clouds : undefined;

  const names = Object.keys(clouds);
  const wanted = name ?? env.OS_CLOUD ?? (names.length === 1 ? names[0] : undefined);
  if (!wanted) {
    throw new CloudConfigError(
      'CloudNotFound',
      `${file} has several clouds (${names.join(', ')}): name one or set OS_CLOUD`,
      { file },
    );
  }
  const raw = clouds[wanted];
  if (!isRecord(raw)) {
    throw new CloudConfigError(
      'CloudNotFound',
      `cloud "${wanted}" is not in ${file} (it has: ${names.join(', ') || 'none'})`,
      { file, cloud: wanted },
    );
  }
  const cloud = isRecord(secure) && isRecord(secure[wanted]) ? deepMerge(raw, secure[wanted]) : raw;
  const where = `cloud "${wanted}" in ${file}`;

  const iface = str(cloud, 'interface', where) ?? str(cloud, 'endpoint_type', where) ?? 'public';
  const normalised = iface.replace(/URL$/, '');
  if (!['public', 'internal', 'admin'].includes(normalised)) {
    throw new CloudConfigError('CloudConfigInvalid', `${where}: interface must be public, internal or admin`, {
      field: 'interface',
    });
  }
  if (cloud.verify !== undefined && typeof cloud.verify !== 'boolean') {
    throw new CloudConfigError('CloudConfigInvalid', `${where}: verify must be true or false`, { field: 'verify' });
  }
  const cacert = str(cloud, 'cacert', where);
  const regionName = str(cloud, 'region_name', where);
  const imageEndpointOverride = str(cloud, 'image_endpoint_override', where);
  if (imageEndpointOverride !== undefined && !/^https?:\/\/\S+$/.test(imageEndpointOverride)) {
    throw new CloudConfigError('CloudConfigInvalid', `${where}: image_endpoint_override must be an http(s) URL`, {
      field: 'image_endpoint_override',
    });
  }
  if (cloud.allow_http !== undefined && typeof cloud.allow_http !== 'boolean') {
    throw new CloudConfigError('CloudConfigInvalid', `${where}: allow_http must be true or false`, {
      field: 'allow_http',
    });
  }
  const allowHttp = cloud.allow_http === true;
  const auth = parseAuth(cloud, where);
  if (!allowHttp) {
    for (const [field, url] of [
      ['auth.auth_url', auth.authUrl],
      ['image_endpoint_override', imageEndpointOverride],
    ] as const) {
      if (url !== undefined && isPlainHttp(url)) throw plainHttpRefused(where, field, url);
    }
  }
  return {
    name: wanted,
    file,
    auth,
    ...(regionName ? { regionName } : {}),
    interface: normalised as Interface,
    verify: typeof cloud.verify === 'boolean' ? cloud.verify : cloud.insecure !== true,
    ...(cacert ? { cacert: path.resolve(path.dirname(file), cacert) } : {}),
    ...(imageEndpointOverride ? { imageEndpointOverride } : {}),
    ...(allowHttp ? { allowHttp } : {}),
  };
}

/** True for an http:// URL (any case): credentials and tokens would cross the network in clear. */
export function isPlainHttp(url: string): boolean {
  return /^http:\/\//i.test(url.trim());
}

/** The typed, non-retryable refusal of a plain http endpoint for a cloud without `allow_http: true`. */
export function plainHttpRefused(where: string, field: string, url: string): CloudConfigError {
  return new CloudConfigError(
    'CloudPlainHttpRefused',
    `${where}: ${field} ${url} is plain http (passwords and tokens in clear); use https, or set allow_http: true on the cloud entry to accept it (docs/operator-guide.md, clouds)`,
    { field, url },
  );
}
