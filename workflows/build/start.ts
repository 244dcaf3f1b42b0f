// What every build starts with: its tracker, its validated input (a typed, non-retryable failure before anything
// is created), its identity, its activity proxies and its compensations.
import type { z } from 'zod';
import type { Tuning } from '../../src/contracts/tuning.js';
import { currentBuildIdentity } from './identity.js';
import { generalActivities, generalStreamingActivities, poolActivities } from './proxies.js';
import { Compensations } from './saga.js';
import { BuildTracker } from './tracker.js';
import { validateInput } from './validate.js';

type BuildInput = { image: { name: string }; tuning: Tuning };

/** A build that runs on the general task queue only (convertImage). */
export function startBuild<S extends z.ZodType<BuildInput>>(kind: string, schema: S, raw: unknown) {
  const build = new BuildTracker(kind);
  const input: z.infer<S> = validateInput(schema, raw);
  const id = currentBuildIdentity();
  build.describe(input.image.name, undefined, id);
  return {
    build,
    input,
    id,
    general: generalActivities(input.tuning),
    streaming: generalStreamingActivities(input.tuning),
    saga: new Compensations(),
  };
}

/** A build on a XenServer pool: the general proxies and the pool's (quick calls, waits, best-effort calls). */
export function startPoolBuild<S extends z.ZodType<BuildInput & { pool: string }>>(
  kind: string,
  schema: S,
  raw: unknown,
) {
  const build = new BuildTracker(kind);
  const input: z.infer<S> = validateInput(schema, raw);
  const id = currentBuildIdentity();
  build.describe(input.image.name, input.pool, id);
  return {
    build,
    input,
    id,
    general: generalActivities(input.tuning),
    ...poolActivities(input.pool, input.tuning),
    saga: new Compensations(),
  };
}
