// `xenimage setup`: the host checks `up` (or `worker`) runs before it starts, and the Temporal CLI built once;
// or, with --search-attributes, the one-time registration of xenimage's search attributes on a cluster.
import { InvalidInputError } from '../../errors.js';
import { cliContext, temporalTarget } from '../context.js';
import { prepareHost, toolsFor } from '../hostCheck.js';

export async function runSetup(opts: { worker?: boolean; searchAttributes?: boolean }): Promise<void> {
  const ctx = cliContext();
  if (opts.searchAttributes) {
    if (!ctx.config.temporal.address)
      throw new InvalidInputError(
        '--search-attributes registers them on the cluster named by TEMPORAL_ADDRESS (the dev server of `xenimage up` registers its own)',
      );
    const [{ connect }, { ensureSearchAttributes }] = await Promise.all([
      import('../../temporal/connection.js'),
      import('../../temporal/searchAttributes.js'),
    ]);
    const target = await temporalTarget(ctx);
    const connection = await connect(target);
    try {
      const added = await ensureSearchAttributes(connection, target.namespace);
      console.log(
        added.length
          ? `namespace ${target.namespace}: added ${added.join(', ')}`
          : `namespace ${target.namespace}: search attributes already there`,
      );
    } finally {
      await connection.close();
    }
    return;
  }
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
