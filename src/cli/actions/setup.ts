// `xenimage setup`: the host checks `up` (or `worker`) runs before it starts, and the Temporal CLI built once.
import { cliContext } from '../context.js';
import { prepareHost, toolsFor } from '../hostCheck.js';

export async function runSetup(opts: { worker?: boolean }): Promise<void> {
  const ctx = cliContext();
  const job = opts.worker ? 'worker' : 'up';
  const started = Date.now();
  await prepareHost(job, ctx);
  const packages = [...new Set(toolsFor(job, ctx.config).map((t) => t.package))];
  console.log(
    `xenimage ${job} can start: ${packages.join(' ')} installed` +
      (job === 'up' && !ctx.config.temporal.address ? ', Temporal CLI ready' : '') +
      ` (${Math.round((Date.now() - started) / 1000)}s)`,
  );
}
