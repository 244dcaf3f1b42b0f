// The Debian programs the lab's Keystone + Glance run (src/host/catalog.ts names their packages). Missing ones
// are installed by the host's package installer where it can (root on Debian/Ubuntu); otherwise the error names
// the packages, the command, and how to use an existing cloud instead.
import { OPENSTACK_TOOLS, TOOLS, type ToolSpec } from '../../host/catalog.js';
import { ensureTools, type HostProbe } from '../../host/systemPackages.js';
import type { Logger } from '../../log.js';

export const PROGRAMS = {
  keystoneManage: TOOLS.keystoneManage.command,
  keystoneWsgi: TOOLS.keystoneWsgi.command,
  glanceApi: TOOLS.glanceApi.command,
  glanceManage: TOOLS.glanceManage.command,
  uwsgi: TOOLS.uwsgi.command,
  uwsgiPython: TOOLS.uwsgiPython.command,
  python: TOOLS.python.command,
} as const;

export const OPENSTACK_ALTERNATIVE = 'Or use an existing cloud: set OS_CLOUD to a cloud of your clouds.yaml.';

export async function ensureOpenStackPrograms(
  logger: Logger,
  options: { probe?: HostProbe; tools?: readonly ToolSpec[] } = {},
): Promise<void> {
  const installed = await ensureTools(options.tools ?? OPENSTACK_TOOLS, {
    job: 'the embedded Keystone + Glance',
    probe: options.probe,
    alternative: OPENSTACK_ALTERNATIVE,
  });
  if (installed.length > 0) logger.info({ packages: installed }, 'installed Keystone and Glance with apt');
}
