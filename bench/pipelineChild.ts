// Runs the whole pipeline (reader → tap VHD → tar → gzip → hashes) into a sink that drops the bytes, in its
// own process, and reports its peak RSS: `node dist/bench/pipelineChild.js SRC [level]` (BENCH_COMPRESSOR picks the engine).
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CompressorKind } from '../src/pack/compressor.js';
import { openImageSource, packImage } from '../src/pack/pipeline.js';

const [src, level] = process.argv.slice(2);
const image = await openImageSource({ path: src! });
const start = Date.now();
const packed = packImage(image, {
  level: Number(level ?? 6),
  compressor: process.env.BENCH_COMPRESSOR as CompressorKind | undefined,
});
await pipeline(packed.stream, new Writable({ write: (_c, _e, cb) => cb() }));
const result = await packed.result;
await image.close();
process.stdout.write(
  `${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, ms: Date.now() - start, virtualSize: image.virtualSize, vhdBytes: result.vhdBytes, tgzBytes: result.tgzBytes })}\n`,
);
