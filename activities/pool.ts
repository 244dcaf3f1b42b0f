// The one way a pool activity reaches its pool: onPool makes an activity that parses its input, takes the worker's
// connection to the input's pool (opened once per worker process, reopened when it broke) and runs the body with
// the activity's cancellation signal, turning what it throws into typed failures.
import { z } from 'zod';
import { MAX_BUILD_IDENTITY } from '../src/contracts/buildIdentity.js';
import type { XapiConnection } from '../src/xapi/connection.js';
import type { ActivityDeps } from './deps.js';
import { activity, parse } from './support.js';

export function onPool<S extends z.ZodType<{ pool: string }>, R>(
  deps: Pick<ActivityDeps, 'pools'>,
  name: string,
  schema: S,
  body: (input: z.infer<S>, conn: XapiConnection, signal: AbortSignal) => Promise<R>,
): (input: z.input<S>) => Promise<R> {
  return (input) =>
    activity(async (signal) => {
      const parsed = parse(schema, input, name);
      return body(parsed, await deps.pools.get(parsed.pool), signal);
    });
}

export const PoolNameSchema = z.string().min(1);
/** The identity a build tags what it makes with (src/contracts/buildIdentity.ts). */
export const BuildIdSchema = z.string().min(1).max(MAX_BUILD_IDENTITY);
export const RefSchema = z.string().regex(/^OpaqueRef:[0-9a-f-]{36}$/, 'an XAPI reference (OpaqueRef:…)');
export const VmInputSchema = z.object({ pool: PoolNameSchema, vm: RefSchema }).strict();
