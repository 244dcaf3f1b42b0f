// Packs a file as the pipeline packs a tap VHD — tar with one entry `0.vhd` → one gzip member → MD5 and SHA-512 of
// the compressed bytes — into OUT (a file or /dev/null), in its own process so the bench times it whole.
// `node dist/bench/packChild.js VHD OUT [threads|pigz|zlib] [level]`; prints the digests.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { CompressorKind } from '../src/pack/compressor.js';
import { VHD_ENTRY_NAME } from '../src/pack/pipeline.js';
import { tarGz } from '../src/pack/tarGz.js';

const [vhd, out, compressor, level] = process.argv.slice(2);
if (!vhd || !out) throw new Error('usage: packChild.js VHD OUT [threads|pigz|zlib] [level]');
const size = (await stat(vhd)).size;
const packed = tarGz(VHD_ENTRY_NAME, createReadStream(vhd, { highWaterMark: 2 * 1024 * 1024 }), size, {
  level: Number(level ?? 6),
  compressor: (compressor ?? 'threads') as CompressorKind,
});
await pipeline(packed.stream, createWriteStream(out));
const r = await packed.result;
process.stdout.write(`${JSON.stringify({ tgzBytes: r.tgzBytes, md5: r.md5, sha512: r.sha512 })}\n`);
