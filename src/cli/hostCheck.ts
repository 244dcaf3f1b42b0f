// Before `xenimage up` or `xenimage worker` starts anything: its state is made private, and every program its
// job runs is checked (and, as root on Debian/Ubuntu, installed) — so a missing tool stops it at once with the
// package to install, instead of failing a build halfway.
import path from 'node:path';
import { OPENSTACK_TOOLS, TOOLS, WORKER_TOOLS, type ToolSpec } from '../host/catalog.js';
import { makeStatePrivate } from '../host/privateFiles.js';
import { ensureTools, type HostProbe } from '../host/systemPackages.js';
import { secretsDirOf, type Config } from '../config.js';
import type { CliContext } from './context.js';

export type HostJob = 'up' | 'worker';

/** The embedded cloud's name (src/lab/openstack): when config names it, `up` runs Keystone + Glance itself. */
const EMBEDDED_CLOUD = 'xenimage-lab';

export function toolsFor(job: HostJob, config: Config): ToolSpec[] {
  const tools = [...WORKER_TOOLS];
  if (job === 'up') {
    tools.push(TOOLS.qemuIo);
    if (config.openstack.cloud === EMBEDDED_CLOUD) tools.push(...OPENSTACK_TOOLS);
  }
  return tools;
}

/** The secrets folder when it is the state's own (an operator's folder elsewhere keeps the modes it was given). */
function ownSecretsDir(ctx: CliContext): string | undefined {
  const dir = path.resolve(secretsDirOf(ctx.config));
  return dir.startsWith(ctx.stateDir + path.sep) ? dir : undefined;
}

export async function prepareHost(job: HostJob, ctx: CliContext, probe?: HostProbe): Promise<void> {
  const installed = await ensureTools(toolsFor(job, ctx.config), { job: `xenimage ${job}`, probe });
  if (installed.length > 0) ctx.logger.info({ packages: installed }, 'installed system packages');
  if (job === 'up' && !ctx.config.temporal.address) {
    const { ensureTemporalCli } = await import('../temporal/cliBinary.js');
    await ensureTemporalCli(ctx.logger);
  }
  await makeStatePrivate(ctx.stateDir, ownSecretsDir(ctx));
}
