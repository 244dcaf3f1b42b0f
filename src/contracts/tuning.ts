// Timeouts and retry pacing of a build. The defaults suit real pools; tests and impatient labs shorten them
// (the Temporal reference: make long waits inputs rather than relying on a time-skipping server).
import { z } from 'zod';
import { DurationSchema } from './duration.js';

export const TuningSchema = z
  .object({
    /** A streaming activity that stops heartbeating this long is considered lost (dead worker, stalled transfer). */
    heartbeatTimeout: DurationSchema.default('2m'),
    /** First wait before retrying a failed activity; doubles up to maxRetryInterval. */
    retryInitialInterval: DurationSchema.default('30s'),
    maxRetryInterval: DurationSchema.default('10m'),
    /** Upper bound of one data transfer (export + pack + upload). */
    transferTimeout: DurationSchema.default('6h'),
    /** How long the first call to a pool may wait for a worker of its xen-<pool> task queue (unknown pool otherwise). */
    poolWorkerTimeout: DurationSchema.default('2m'),
  })
  .strict();

export type Tuning = z.infer<typeof TuningSchema>;
export const DEFAULT_TUNING: Tuning = TuningSchema.parse({});
