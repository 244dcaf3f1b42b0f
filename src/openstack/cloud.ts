// An opened cloud: its config, a Keystone session and a Glance client sharing one HTTP transport.
import { loadCloud, type CloudConfig, type LoadCloudOptions } from './cloudConfig.js';
import { GlanceClient, type GlanceClientOptions } from './glance.js';
import { KeystoneSession, type KeystoneSessionOptions } from './keystone.js';
import { createTransport } from './transport.js';

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
  };

export function openCloud(config: CloudConfig, options: OpenCloudOptions = {}): OpenStackCloud {
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
