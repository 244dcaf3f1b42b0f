// The lab's own keystone.conf, glance-api.conf and paste pipeline (nothing under /etc is read or written: the
// policy directories point at empty folders of the state dir so the packages' /etc/*/policy.d stay out).
import type { OpenStackLayout } from './layout.js';

type Ini = Record<string, Record<string, string | number | boolean>>;

export function renderIni(ini: Ini): string {
  return Object.entries(ini)
    .map(([section, values]) => {
      const lines = Object.entries(values).map(([k, v]) => {
        const text = String(v);
        if (/[\r\n]/.test(text)) throw new Error(`ini value of ${section}.${k} contains a line break`);
        return `${k} = ${text}`;
      });
      return `[${section}]\n${lines.join('\n')}\n`;
    })
    .join('\n');
}

export interface KeystoneSettings {
  tokenExpirationSeconds: number;
  debug: boolean;
}

export function keystoneConf(layout: OpenStackLayout, settings: KeystoneSettings): string {
  return renderIni({
    DEFAULT: { log_file: `${layout.logDir}/keystone.log`, use_stderr: false, debug: settings.debug },
    database: { connection: `sqlite:///${layout.keystone.db}` },
    token: { provider: 'fernet', expiration: settings.tokenExpirationSeconds },
    fernet_tokens: { key_repository: layout.keystone.fernetKeys },
    credential: { key_repository: layout.keystone.credentialKeys },
    oslo_policy: { policy_dirs: layout.keystone.policyDir, policy_file: `${layout.keystone.dir}/policy.yaml` },
  });
}

export interface GlanceSettings {
  port: number;
  keystoneUrl: string;
  servicePassword: string;
  /** Glance's image_size_cap in bytes. */
  imageSizeCap: number;
  /** Glance's os_hash_algo for new images (Glance default sha512). */
  hashingAlgorithm: string;
  debug: boolean;
}

export const GLANCE_SERVICE_USER = 'glance';
export const SERVICE_PROJECT = 'service';

export function glanceConf(layout: OpenStackLayout, s: GlanceSettings): string {
  return renderIni({
    DEFAULT: {
      bind_host: '127.0.0.1',
      bind_port: s.port,
      // 0 = serve from the main process (no forked workers): one process to watch and stop.
      workers: 0,
      log_file: `${layout.logDir}/glance-api.log`,
      use_stderr: false,
      debug: s.debug,
      image_size_cap: s.imageSizeCap,
      hashing_algorithm: s.hashingAlgorithm,
      node_staging_uri: `file://${layout.glance.staging}`,
    },
    database: { connection: `sqlite:///${layout.glance.db}` },
    glance_store: { stores: 'file', default_store: 'file', filesystem_store_datadir: layout.glance.images },
    paste_deploy: { flavor: 'keystone', config_file: layout.glance.paste },
    keystone_authtoken: {
      www_authenticate_uri: s.keystoneUrl,
      auth_url: s.keystoneUrl,
      auth_type: 'password',
      project_domain_name: 'Default',
      user_domain_name: 'Default',
      project_name: SERVICE_PROJECT,
      username: GLANCE_SERVICE_USER,
      password: s.servicePassword,
      service_token_roles_required: true,
    },
    oslo_concurrency: { lock_path: layout.glance.locks },
    oslo_policy: { policy_dirs: layout.glance.policyDir, policy_file: `${layout.glance.dir}/policy.yaml` },
  });
}

/** The keystone flavour of Debian's glance-api pipeline, without the filters that read files under /etc. */
export const GLANCE_PASTE_INI = `[pipeline:glance-api-keystone]
pipeline = versionnegotiation authtoken context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
`;
