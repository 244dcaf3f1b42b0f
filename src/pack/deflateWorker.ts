// Worker thread of the parallel gzip: compresses one chunk as raw deflate, primed with the previous 32 KiB of
// input as dictionary, ending with a sync flush (or the final block for the last chunk) — pigz's scheme.
import { parentPort } from 'node:worker_threads';
import { constants, deflateRawSync } from 'node:zlib';

export interface DeflateJob {
  seq: number;
  data: Uint8Array;
  dictionary: Uint8Array;
  level: number;
  final: boolean;
}

export interface DeflateResult {
  seq: number;
  data?: Uint8Array;
  error?: string;
}

parentPort?.on('message', (job: DeflateJob) => {
  try {
    const out = deflateRawSync(job.data, {
      level: job.level,
      ...(job.dictionary.length > 0 ? { dictionary: job.dictionary } : {}),
      finishFlush: job.final ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    });
    parentPort!.postMessage({ seq: job.seq, data: out } satisfies DeflateResult);
  } catch (err) {
    parentPort!.postMessage({ seq: job.seq, error: (err as Error).message } satisfies DeflateResult);
  }
});
