// Timeouts and retry pacing of a build. The defaults suit real pools; tests and impatient labs shorten them
// (the Temporal reference: make long waits inputs rather than relying on a time-skipping server).
import { z } from 'zod';
import { DurationSchema } from './duration.js';

export const TuningSchema = z
  .object({
    /** A waiting activity that stops heartbeating this long is considered lost (its worker died). */
    heartbeatTimeout: DurationSchema.default('2m'),
    /**
     * A transfer (export, upload, URL source, verification download) that moves no byte this long fails with the
     * retryable TransferStalled; its sockets have the same inactivity timeout. Transfers heartbeat when bytes move,
     * so their heartbeat timeout is this plus a margin (workflows/build/proxies.ts).
     */
    stallTimeout: DurationSchema.default('2m'),
    /** First wait before retrying a failed activity; doubles up to maxRetryInterval. */
    retryInitialInterval: DurationSchema.default('30s'),
    maxRetryInterval: DurationSchema.default('10m'),
    /**
     * Budget of one data transfer (export + pack + upload) with all its retries: stalls, dropped connections and
     * workers that died are retried until it is spent; errors of the input or the image fail at once.
     */
    transferTimeout: DurationSchema.default('6h'),
    /** How long the first call to a pool may wait for a worker of its xen-<pool> task queue (unknown pool otherwise). */
    poolWorkerTimeout: DurationSchema.default('2m'),
  })
  .strict();

export type Tuning = z.infer<typeof TuningSchema>;
export const DEFAULT_TUNING: Tuning = TuningSchema.parse({});
