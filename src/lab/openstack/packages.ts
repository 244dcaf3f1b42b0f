// The Debian programs the lab runs. Missing ones are installed with apt when that is possible (root on
// Debian/Ubuntu); otherwise the error says what to install, or how to use an existing cloud instead.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { XenimageError } from '../../errors.js';
import type { Logger } from '../../log.js';

const run = promisify(execFile);

export const PROGRAMS = {
  keystoneManage: '/usr/bin/keystone-manage',
  keystoneWsgi: '/usr/bin/keystone-wsgi-public',
  glanceApi: '/usr/bin/glance-api',
  glanceManage: '/usr/bin/glance-manage',
  uwsgi: '/usr/bin/uwsgi',
  uwsgiPython: '/usr/lib/uwsgi/plugins/python3_plugin.so',
  /** Debian's interpreter (has the services' modules, unlike a pyenv python3 on PATH). */
  python: '/usr/bin/python3',
} as const;

export const APT_PACKAGES = ['keystone', 'glance-api', 'python3-openstackclient', 'uwsgi-core', 'uwsgi-plugin-python3'];

/** What the decision to install depends on (the real machine by default; tests name other programs). */
export interface InstallProbe {
  programs: readonly string[];
  root: boolean;
  debianLike: boolean;
}

export function machineProbe(): InstallProbe {
  return {
    programs: Object.values(PROGRAMS),
    root: process.getuid?.() === 0,
    debianLike: existsSync('/etc/debian_version') && existsSync('/usr/bin/apt-get'),
  };
}

export class OpenStackUnavailableError extends XenimageError {
  constructor(message: string, details: Record<string, unknown>) {
    super('OpenStackNotInstalled', message, { retryable: false, details });
  }
}

export async function ensureOpenStackPrograms(logger: Logger, probe: InstallProbe = machineProbe()): Promise<void> {
  const missingPrograms = () => probe.programs.filter((p) => !existsSync(p));
  const missing = missingPrograms();
  if (missing.length === 0) return;
  if (!probe.root || !probe.debianLike) {
    throw new OpenStackUnavailableError(
      `Keystone and Glance are not installed (missing ${missing.join(', ')}). Install the Debian packages ` +
        `${APT_PACKAGES.join(' ')} as root, or use an existing cloud: set OS_CLOUD to a cloud of your clouds.yaml.`,
      { missing },
    );
  }
  logger.info({ packages: APT_PACKAGES }, 'installing Keystone and Glance with apt');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...APT_PACKAGES], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    throw new OpenStackUnavailableError(
      `apt-get could not install ${APT_PACKAGES.join(' ')}: ${(err as Error).message.split('\n')[0]}`,
      { missing },
    );
  }
  const still = missingPrograms();
  if (still.length)
    throw new OpenStackUnavailableError(`after apt-get install these are still missing: ${still.join(', ')}`, {
      missing: still,
    });
}
