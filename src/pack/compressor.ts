// Chooses the gzip engine: zlib on libuv's thread pool (default, measured in bench/), a pigz child, or single-thread zlib.
// Every engine writes exactly one gzip member, deterministic for the same input and level.
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { createGzip } from 'node:zlib';
import { InvalidInputError } from '../errors.js';
import { ParallelGzip } from './parallelGzip.js';
import { PigzGzip, pigzAvailable } from './pigzGzip.js';

export type CompressorKind = 'threads' | 'pigz' | 'zlib';

export interface CompressorOptions {
  /** 1..9, default 6 (gzip's default). */
  level?: number;
  /** Engine; default 'threads' (see docs/decisions/disk-0003-parallel-gzip.md). */
  kind?: CompressorKind;
  /** Threads for 'threads' and 'pigz'; default: available cores (at least 1). */
  threads?: number;
}

export function compressionLevel(level: number | undefined): number {
  const l = level ?? 6;
  if (!Number.isInteger(l) || l < 1 || l > 9)
    throw new InvalidInputError(`compression level must be an integer 1..9, got ${level}`);
  return l;
}

export function createCompressor(options: CompressorOptions = {}): { stream: Duplex; kind: CompressorKind } {
  const level = compressionLevel(options.level);
  const threads = Math.max(1, options.threads ?? os.availableParallelism());
  let kind = options.kind ?? 'threads';
  if (kind === 'pigz' && !pigzAvailable()) kind = 'zlib'; // fallback: still one member, one core
  if (kind === 'threads') return { stream: new ParallelGzip({ level, threads }), kind };
  if (kind === 'pigz') return { stream: new PigzGzip({ level, threads }), kind };
  return { stream: createGzip({ level }), kind: 'zlib' };
}
