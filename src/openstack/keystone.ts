// Keystone v3 session: one token at a time (from the X-Subject-Token header), renewed before it expires and
// after a 401, plus the service catalog that came with it. Concurrent callers share one authentication.
import { registerSecretValue } from '../secrets.js';
import { isPlainHttp, plainHttpRefused, type CloudConfig, type Interface } from './cloudConfig.js';
import { CloudConfigError, KeystoneError } from './errors.js';
import type { Transport } from './transport.js';

interface CatalogEndpoint {
  interface: string;
  region_id?: string | null;
  region?: string | null;
  url: string;
}

interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

interface TokenState {
  value: string;
  expiresAt: number;
  marginMs: number;
  projectId: string | undefined;
  userId: string | undefined;
  catalog: CatalogEntry[];
}

export interface KeystoneSessionOptions {
  /** Renew the token when it has less than this left (default 120 s, at most a quarter of its lifetime). */
  refreshMarginMs?: number;
  /** Bound of one authentication request (default 60 s). */
  authTimeoutMs?: number;
}

/** auth_url may be given with or without /v3 (and with a trailing slash); tokens live under /v3/auth/tokens. */
export function identityV3Url(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? base : `${base}/v3`;
}

/** Catalog URLs may carry a path and a version; we keep the path, drop a trailing "/v2" (docs/reference/glance.md §2). */
export function normaliseImageEndpoint(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '');
}

function authBody(cloud: CloudConfig): unknown {
  const auth = cloud.auth;
  if (auth.type === 'password') {
    return {
      auth: {
        identity: { methods: ['password'], password: { user: { ...auth.user, password: auth.password } } },
        scope: { project: auth.project },
      },
    };
  }
  // Application credentials carry their own project: a scope in the request is an error (reference pitfall 12).
  return {
    auth: {
      identity: {
        methods: ['application_credential'],
        application_credential: { ...auth.credential, secret: auth.secret },
      },
    },
  };
}

export class KeystoneSession {
  private state: TokenState | undefined;
  private pending: Promise<TokenState> | undefined;
  private readonly marginMs: number;
  private readonly timeoutMs: number;

  constructor(
    readonly cloud: CloudConfig,
    private readonly transport: Transport,
    options: KeystoneSessionOptions = {},
  ) {
    this.marginMs = options.refreshMarginMs ?? 120_000;
    this.timeoutMs = options.authTimeoutMs ?? 60_000;
  }

  /** A token valid for at least the refresh margin; authenticates when needed. */
  async token(signal?: AbortSignal): Promise<string> {
    const state = this.state;
    if (state && !this.expiresSoon(state)) return state.value;
    return (await this.authenticate(signal)).value;
  }

  /** Forces a new token now (before a long upload, or after Glance answered 401 to `rejected`). */
  async renew(signal?: AbortSignal, rejected?: string): Promise<string> {
    if (rejected !== undefined && this.state && this.state.value !== rejected) return this.state.value;
    this.state = undefined;
    return (await this.authenticate(signal)).value;
  }

  /** When the current token expires (epoch ms), if there is one. */
  get expiresAt(): number | undefined {
    return this.state?.expiresAt;
  }

  /** The project the token is scoped to (Glance owner of what we create). */
  async projectId(signal?: AbortSignal): Promise<string> {
    await this.token(signal);
    const id = this.state?.projectId;
    if (!id)
      throw new KeystoneError(
        'KeystoneUnscopedToken',
        `cloud "${this.cloud.name}": the token is not scoped to a project`,
        { retryable: false },
      );
    return id;
  }

  /** The user the token belongs to. */
  async userId(signal?: AbortSignal): Promise<string> {
    await this.token(signal);
    const id = this.state?.userId;
    if (!id)
      throw new KeystoneError('KeystoneBadResponse', `cloud "${this.cloud.name}": the token names no user`, {
        retryable: true,
      });
    return id;
  }

  /** The catalog URL of a service type for the cloud's interface and region; exactly one must match. */
  async endpoint(serviceType: string, signal?: AbortSignal): Promise<string> {
    await this.token(signal);
    const catalog = this.state?.catalog ?? [];
    const iface: Interface = this.cloud.interface;
    const region = this.cloud.regionName;
    const urls = new Set(
      catalog
        .filter((entry) => entry.type === serviceType)
        .flatMap((entry) => entry.endpoints)
        .filter((ep) => ep.interface === iface && (region === undefined || (ep.region_id ?? ep.region) === region))
        .map((ep) => ep.url),
    );
    const where = `cloud "${this.cloud.name}" (interface ${iface}${region ? `, region ${region}` : ''})`;
    if (urls.size === 0) {
      throw new CloudConfigError('CloudConfigInvalid', `${where}: the catalog has no "${serviceType}" endpoint`, {
        serviceType,
      });
    }
    if (urls.size > 1) {
      throw new CloudConfigError(
        'CloudConfigInvalid',
        `${where}: the catalog has several "${serviceType}" endpoints (${[...urls].join(', ')}); set region_name`,
        {
          serviceType,
        },
      );
    }
    const url = [...urls][0]!;
    // No downgrade: without allow_http the auth_url is https, so an http catalog URL would carry the token in clear
    // (docs/decisions/openstack-0004-plain-http-endpoints.md).
    if (!this.cloud.allowHttp && isPlainHttp(url))
      throw plainHttpRefused(where, `the catalog's "${serviceType}" endpoint`, url);
    return url;
  }

  private expiresSoon(state: TokenState): boolean {
    return Date.now() + state.marginMs >= state.expiresAt;
  }

  private authenticate(signal?: AbortSignal): Promise<TokenState> {
    this.pending ??= this.requestToken(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async requestToken(signal?: AbortSignal): Promise<TokenState> {
    const url = `${identityV3Url(this.cloud.auth.authUrl)}/auth/tokens`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res;
    let text: string;
    try {
      res = await this.transport.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(authBody(this.cloud)),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted && !signal?.aborted) {
        throw new KeystoneError('KeystoneTimeout', `Keystone at ${url} did not answer within ${this.timeoutMs} ms`, {
          retryable: true,
          cause: err,
        });
      }
      throw err;
    }
    const who = this.cloud.auth.type === 'password' ? 'password' : 'application credential';
    if (res.status !== 201) {
      const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
      const type =
        res.status === 401 ? 'KeystoneAuthFailed' : retryable ? 'KeystoneUnavailable' : 'KeystoneRequestRefused';
      throw new KeystoneError(
        type,
        `Keystone at ${url} refused the ${who} authentication of cloud "${this.cloud.name}" (HTTP ${res.status})`,
        {
          retryable,
          details: { status: res.status, cloud: this.cloud.name },
        },
      );
    }
    const value = res.headers.get('x-subject-token');
    if (!value) {
      throw new KeystoneError(
        'KeystoneBadResponse',
        `Keystone at ${url} answered 201 without an X-Subject-Token header`,
        { retryable: true },
      );
    }
    registerSecretValue(value);
    const body = JSON.parse(text) as {
      token?: { expires_at?: string; project?: { id?: string }; user?: { id?: string }; catalog?: CatalogEntry[] };
    };
    const expiresAt = Date.parse(body.token?.expires_at ?? '');
    if (Number.isNaN(expiresAt)) {
      throw new KeystoneError('KeystoneBadResponse', `Keystone at ${url} returned a token without a valid expires_at`, {
        retryable: true,
      });
    }
    const issued = Date.now();
    const state: TokenState = {
      value,
      expiresAt,
      // A short-lived token (small [token] expiration) would otherwise always look about to expire.
      marginMs: Math.min(this.marginMs, Math.max(0, (expiresAt - issued) / 4)),
      projectId: body.token?.project?.id,
      userId: body.token?.user?.id,
      catalog: body.token?.catalog ?? [],
    };
    this.state = state;
    return state;
  }
}
