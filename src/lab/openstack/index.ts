// The lab's real Keystone + Glance (Debian packages), configured and run under <stateDir>/openstack/:
// Keystone served by uWSGI, Glance by its own eventlet server, SQLite databases, a file store, generated
// passwords, a clouds.yaml for the build user. Setup is idempotent and survives restarts (ports may change;
// endpoints and clouds.yaml follow them).
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import { XenimageError, errorMessage } from '../../errors.js';
import { writePrivateFile } from '../../host/privateFiles.js';
import { log as rootLog, type Logger } from '../../log.js';
import type { CloudConfig } from '../../openstack/cloudConfig.js';
import { openCloud } from '../../openstack/cloud.js';
import { KeystoneSession } from '../../openstack/keystone.js';
import { createTransport } from '../../openstack/transport.js';
import { KeystoneAdmin } from './keystoneAdmin.js';
import { openStackLayout, type OpenStackLayout } from './layout.js';
import { ensureOpenStackPrograms, PROGRAMS } from './packages.js';
import { loadOrCreatePassword } from './passwords.js';
import { freePorts } from '../../net/freePort.js';
import { GLANCE_PASTE_INI, GLANCE_SERVICE_USER, SERVICE_PROJECT, glanceConf, keystoneConf } from './serviceConfig.js';
import { spawnService, stopStaleService, type ServiceProcess } from './serviceProcess.js';
import { SetupRecord, enableWal, runSetupCommand } from './setupSteps.js';

export const LAB_CLOUD = 'xenimage-lab';
export const LAB_ADMIN_CLOUD = 'xenimage-lab-admin';
export const LAB_REGION = 'RegionOne';
export const LAB_PROJECT = 'xenimage';
export const LAB_BUILD_USER = 'xenimage-build';

export interface StartOpenStackOptions {
  stateDir: string;
  log?: Logger;
  /** Fixed ports; unset or 0 = free loopback ports chosen by the kernel. */
  ports?: { keystone?: number; glance?: number };
  /** Keystone [token] expiration in seconds (default 3600); tests make it small to see tokens expire. */
  tokenExpirationSeconds?: number;
  /** Glance image_size_cap in bytes (default 1 TiB, Glance's own default). */
  imageSizeCap?: number;
  /** Glance hashing_algorithm, the os_hash_algo of new images (default sha512). */
  hashingAlgorithm?: string;
  /** Debug logging in both services' logs (default: $XENIMAGE_OPENSTACK_DEBUG === "1"). */
  debug?: boolean;
  /** Bound of each readiness wait (default 60 s). */
  readyTimeoutMs?: number;
}

export interface OpenStackLab {
  keystoneUrl: string;
  glanceUrl: string;
  /** clouds.yaml with the build cloud (and the admin cloud), 0600. */
  cloudsFile: string;
  cloud: typeof LAB_CLOUD;
  adminCloud?: string;
  region: string;
  logDir: string;
  /** How long this start took (ms). */
  startupMs: number;
  stop(): Promise<void>;
}

function serviceEnv(): NodeJS.ProcessEnv {
  // The services are Debian's Python: a pyenv/virtualenv setting of the parent must not leak into them.
  const env = { ...process.env };
  for (const k of ['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('OS_')) delete env[k];
  return env;
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  service: ServiceProcess,
  logFile: string,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (service.hasExited()) {
      throw new XenimageError('OpenStackStartFailed', `${service.name} exited before ${what}; see ${logFile}`, {
        retryable: false,
      });
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = errorMessage(err);
    }
    await sleep(100);
  }
  throw new XenimageError(
    'OpenStackStartFailed',
    `${what} did not happen within ${timeoutMs} ms (${last}); see ${logFile}`,
    { retryable: true },
  );
}

async function answers(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status === 200 || res.status === 300;
}

async function prepareDirs(layout: OpenStackLayout): Promise<void> {
  for (const dir of [
    layout.root,
    layout.logDir,
    layout.runDir,
    layout.keystone.dir,
    layout.keystone.policyDir,
    layout.glance.dir,
    layout.glance.images,
    layout.glance.staging,
    layout.glance.locks,
    layout.glance.policyDir,
  ]) {
    await mkdir(dir, { recursive: true });
  }
  await chmod(layout.root, 0o700);
}

function passwordCloud(name: string, authUrl: string, user: string, password: string, project: string): CloudConfig {
  return {
    name,
    file: '(lab)',
    auth: {
      type: 'password',
      authUrl,
      user: { name: user, domain: { id: 'default' } },
      password,
      project: { name: project, domain: { id: 'default' } },
    },
    regionName: LAB_REGION,
    interface: 'public',
    verify: true,
    allowHttp: true,
  };
}

function cloudsYaml(keystoneUrl: string, buildPassword: string, adminPassword: string): string {
  const entry = (username: string, password: string, project: string) => ({
    auth_type: 'password',
    auth: {
      auth_url: keystoneUrl,
      username,
      password,
      project_name: project,
      user_domain_name: 'Default',
      project_domain_name: 'Default',
    },
    region_name: LAB_REGION,
    interface: 'public',
    identity_api_version: 3,
    // The lab's Keystone and Glance listen on loopback http (docs/decisions/openstack-0004-plain-http-endpoints.md).
    allow_http: true,
  });
  return toYaml({
    clouds: {
      [LAB_CLOUD]: entry(LAB_BUILD_USER, buildPassword, LAB_PROJECT),
      [LAB_ADMIN_CLOUD]: entry('admin', adminPassword, 'admin'),
    },
  });
}

export async function startOpenStack(options: StartOpenStackOptions): Promise<OpenStackLab> {
  const started = Date.now();
  const logger = (options.log ?? rootLog()).child({ component: 'lab-openstack' });
  const layout = openStackLayout(options.stateDir);
  const readyMs = options.readyTimeoutMs ?? 60_000;
  const debug = options.debug ?? process.env.XENIMAGE_OPENSTACK_DEBUG === '1';
  await ensureOpenStackPrograms(logger);
  await prepareDirs(layout);
  const keystonePid = path.join(layout.runDir, 'keystone.pid');
  const glancePid = path.join(layout.runDir, 'glance-api.pid');
  for (const [pidFile, marker] of [
    [keystonePid, layout.keystone.dir],
    [glancePid, layout.glance.conf],
  ] as const) {
    if (await stopStaleService(pidFile, marker))
      logger.warn({ pidFile }, 'stopped a service left running by an earlier start');
  }

  const [adminPassword, buildPassword, glancePassword] = (await Promise.all(
    ['openstack-admin', 'openstack-build', 'openstack-glance'].map((n) => loadOrCreatePassword(layout.secretsDir, n)),
  )) as [string, string, string];
  const free = await freePorts(2);
  const keystonePort = options.ports?.keystone || free[0]!;
  const glancePort = options.ports?.glance || free[1]!;
  const keystoneUrl = `http://127.0.0.1:${keystonePort}/v3`;
  const glanceUrl = `http://127.0.0.1:${glancePort}`;

  await writePrivateFile(
    layout.keystone.conf,
    keystoneConf(layout, { tokenExpirationSeconds: options.tokenExpirationSeconds ?? 3600, debug }),
  );
  await writePrivateFile(
    layout.glance.conf,
    glanceConf(layout, {
      port: glancePort,
      keystoneUrl: `http://127.0.0.1:${keystonePort}`,
      servicePassword: glancePassword,
      imageSizeCap: options.imageSizeCap ?? 1024 ** 4,
      hashingAlgorithm: options.hashingAlgorithm ?? 'sha512',
      debug,
    }),
  );
  await writeFile(layout.glance.paste, GLANCE_PASTE_INI);

  const env = serviceEnv();
  const setupLog = path.join(layout.logDir, 'setup.log');
  const setup = await SetupRecord.load(layout.setupFile);
  const ks = ['--config-file', layout.keystone.conf];
  const user = String(process.getuid?.() ?? 0);
  const group = String(process.getgid?.() ?? 0);
  const services: ServiceProcess[] = [];
  const stopAll = async () => {
    await Promise.all(services.splice(0).map((s) => s.stop()));
  };
  const keystoneLog = path.join(layout.logDir, 'keystone-uwsgi.log');
  const glanceLog = path.join(layout.logDir, 'glance-api.stdout.log');

  // Keystone's chain and Glance's chain are independent until the first request: run them side by side
  // (each step is a Python start-up of about 2 s; Glance needs nothing from Keystone to start serving).
  const keystoneSide = (async () => {
    await Promise.all([
      setup.once('keystoneDb', async () => {
        await runSetupCommand('keystone db_sync', PROGRAMS.keystoneManage, [...ks, 'db_sync'], setupLog, env);
        await enableWal(layout.keystone.db, setupLog, env);
      }),
      setup.once('fernetKeys', () =>
        runSetupCommand(
          'fernet_setup',
          PROGRAMS.keystoneManage,
          [...ks, 'fernet_setup', '--keystone-user', user, '--keystone-group', group],
          setupLog,
          env,
        ),
      ),
      setup.once('credentialKeys', () =>
        runSetupCommand(
          'credential_setup',
          PROGRAMS.keystoneManage,
          [...ks, 'credential_setup', '--keystone-user', user, '--keystone-group', group],
          setupLog,
          env,
        ),
      ),
    ]);
    await setup.once('keystoneBootstrap', () =>
      runSetupCommand(
        'keystone bootstrap',
        PROGRAMS.keystoneManage,
        [
          ...ks,
          'bootstrap',
          '--bootstrap-username',
          'admin',
          '--bootstrap-project-name',
          'admin',
          '--bootstrap-role-name',
          'admin',
          '--bootstrap-service-name',
          'keystone',
          '--bootstrap-region-id',
          LAB_REGION,
          '--bootstrap-admin-url',
          keystoneUrl,
          '--bootstrap-internal-url',
          keystoneUrl,
          '--bootstrap-public-url',
          keystoneUrl,
        ],
        setupLog,
        { ...env, OS_BOOTSTRAP_PASSWORD: adminPassword },
      ),
    );
    const service = spawnService({
      name: 'keystone (uwsgi)',
      command: PROGRAMS.uwsgi,
      args: [
        '--plugins',
        'python3',
        '--http-socket',
        `127.0.0.1:${keystonePort}`,
        '--wsgi-file',
        PROGRAMS.keystoneWsgi,
        '--chdir',
        layout.keystone.dir,
        '--master',
        '--processes',
        '1',
        '--threads',
        '1',
        '--need-app',
        '--die-on-term',
        '--no-orphans',
        '--buffer-size',
        '65535',
        '--disable-logging',
        // uWSGI's http-socket closes every connection after the response; say so, or pooling clients
        // (keystoneauth in Glance) reuse a closed connection and fail with RemoteDisconnected.
        '--add-header',
        'Connection: close',
      ],
      env: { ...env, OS_KEYSTONE_CONFIG_FILES: layout.keystone.conf },
      cwd: layout.keystone.dir,
      logFile: keystoneLog,
      pidFile: keystonePid,
      python: PROGRAMS.python,
    });
    services.push(service);
    return service;
  })();
  const glanceSide = (async () => {
    await setup.once('glanceDb', async () => {
      await runSetupCommand(
        'glance db_sync',
        PROGRAMS.glanceManage,
        ['--config-file', layout.glance.conf, 'db_sync'],
        setupLog,
        env,
      );
      await enableWal(layout.glance.db, setupLog, env);
    });
    const service = spawnService({
      name: 'glance-api',
      command: PROGRAMS.glanceApi,
      args: ['--config-file', layout.glance.conf],
      env,
      cwd: layout.glance.dir,
      logFile: glanceLog,
      pidFile: glancePid,
      python: PROGRAMS.python,
    });
    services.push(service);
    return service;
  })();
  const sides = await Promise.allSettled([keystoneSide, glanceSide]);
  const failed = sides.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }

  try {
    const keystone = (sides[0] as PromiseFulfilledResult<ServiceProcess>).value;
    const glance = (sides[1] as PromiseFulfilledResult<ServiceProcess>).value;
    await waitUntil('Keystone answering /v3', readyMs, keystone, keystoneLog, () => answers(keystoneUrl));

    const transport = createTransport();
    try {
      const admin = new KeystoneSession(
        passwordCloud('admin', keystoneUrl, 'admin', adminPassword, 'admin'),
        transport,
      );
      const api = new KeystoneAdmin(keystoneUrl, admin, transport);
      const identity = await api.ensureService('identity', 'keystone');
      await api.ensureEndpoints(identity, keystoneUrl, LAB_REGION);
      const serviceProject = await api.ensureProject(SERVICE_PROJECT, 'OpenStack service users');
      const glanceUser = await api.ensureUser(GLANCE_SERVICE_USER, glancePassword, serviceProject);
      await api.grantProjectRole(serviceProject, glanceUser, 'admin');
      const buildProject = await api.ensureProject(LAB_PROJECT, 'xenimage builds');
      const buildUser = await api.ensureUser(LAB_BUILD_USER, buildPassword, buildProject);
      await api.grantProjectRole(buildProject, buildUser, 'member');
      const image = await api.ensureService('image', 'glance');
      await api.ensureEndpoints(image, glanceUrl, LAB_REGION);
    } finally {
      await transport.close();
    }

    await writePrivateFile(layout.cloudsFile, cloudsYaml(keystoneUrl, buildPassword, adminPassword));

    await waitUntil('Glance answering /versions', readyMs, glance, glanceLog, () => answers(`${glanceUrl}/versions`));
    const buildCloud = openCloud(passwordCloud(LAB_CLOUD, keystoneUrl, LAB_BUILD_USER, buildPassword, LAB_PROJECT));
    try {
      await waitUntil('an authenticated Glance image list', readyMs, glance, glanceLog, async () => {
        await buildCloud.glance.listImages({});
        return true;
      });
    } finally {
      await buildCloud.close();
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const startupMs = Date.now() - started;
  logger.info({ keystoneUrl, glanceUrl, cloudsFile: layout.cloudsFile, startupMs }, 'Keystone and Glance are ready');
  return {
    keystoneUrl,
    glanceUrl,
    cloudsFile: layout.cloudsFile,
    cloud: LAB_CLOUD,
    adminCloud: LAB_ADMIN_CLOUD,
    region: LAB_REGION,
    logDir: layout.logDir,
    startupMs,
    async stop() {
      await stopAll();
      logger.info('Keystone and Glance stopped');
    },
  };
}
