// An opened cloud: its config, a Keystone session and a Glance client sharing one HTTP transport.
import { loadCloud, type CloudConfig, type LoadCloudOptions } from './cloudConfig.js';
import { GlanceClient, type GlanceClientOptions } from './glance.js';
import { KeystoneSession, type KeystoneSessionOptions } from './keystone.js';
import { createTransport } from './transport.js';
import type { Logger } from '../log.js';

export interface OpenStackCloud {
  readonly config: CloudConfig;
  readonly session: KeystoneSession;
  readonly glance: GlanceClient;
  /** Closes idle connections (the cloud cannot be used afterwards). */
  close(): Promise<void>;
}

export type OpenCloudOptions = KeystoneSessionOptions &
  GlanceClientOptions & {
    /** No response byte for this long fails a request (a transfer's stall timeout); default: no limit. */
    idleTimeoutMs?: number;
    /** Where the one plain-http warning goes (default: process.emitWarning). */
    log?: Logger;
  };

const warnedHttp = new Set<string>();

/**
 * Whether the endpoints the entry names are on this host (a lab on loopback): nothing crosses a network in clear.
 * Glance from the catalog of a loopback Keystone is taken to be there too.
 */
function loopbackOnly(config: CloudConfig): boolean {
  const urls = [config.auth.authUrl, config.imageEndpointOverride].filter((u): u is string => typeof u === 'string');
  return urls.every((u) => {
    const host = new URL(u).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  });
}

/** One warning per cloud (file + name) and process: the entry set allow_http: true (and leaves this host). */
function warnPlainHttp(config: CloudConfig, log: Logger | undefined): void {
  if (loopbackOnly(config)) return;
  const key = `${config.file}\0${config.name}`;
  if (warnedHttp.has(key)) return;
  warnedHttp.add(key);
  const message = `cloud "${config.name}" may be reached over plain http (allow_http: true in ${config.file}): its password, tokens and images can cross the network in clear`;
  if (log) log.warn({ cloud: config.name }, message);
  else process.emitWarning(message);
}

export function openCloud(config: CloudConfig, options: OpenCloudOptions = {}): OpenStackCloud {
  if (config.allowHttp) warnPlainHttp(config, options.log);
  const transport = createTransport(
    { verify: config.verify, ...(config.cacert ? { cacert: config.cacert } : {}) },
    { ...(options.idleTimeoutMs ? { bodyTimeoutMs: options.idleTimeoutMs } : {}) },
  );
  const session = new KeystoneSession(config, transport, options);
  const glance = new GlanceClient(session, transport, options);
  return { config, session, glance, close: () => transport.close() };
}

/** loadCloud + openCloud: a cloud of clouds.yaml by name (or OS_CLOUD). */
export function connectCloud(name?: string, options: LoadCloudOptions & OpenCloudOptions = {}): OpenStackCloud {
  return openCloud(loadCloud(name, options), options);
}
