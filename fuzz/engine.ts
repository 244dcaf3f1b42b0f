// A small coverage-guided fuzzer on V8's own block coverage (the inspector's precise coverage, read after every
// run): an input that reaches a new (block, hit-count bucket) pair joins the corpus and is mutated further.
// Why not Jazzer.js or libFuzzer: docs/decisions/fuzz-0001-v8-coverage-guided-fuzzer.md.
import { createHash } from 'node:crypto';
import { Session } from 'node:inspector';

export interface FuzzTarget {
  name: string;
  /** Runs one input; throws only what `isBug` says is a bug for this target. */
  run(data: Buffer): Promise<void>;
  /** Which thrown values are bugs (the parser's own typed refusals are not). */
  isBug(err: unknown): boolean;
  /** Scripts whose coverage guides the fuzzer (their URLs contain one of these). */
  coverage: string[];
  /** Tokens the mutator inserts (magics, keywords). */
  dictionary: Buffer[];
  /** Inputs grow no larger than this. */
  maxLength: number;
}

export interface Finding {
  input: Buffer;
  message: string;
  /** A short stable key (error name and first stack frame inside the project) to count distinct bugs. */
  key: string;
}

export interface FuzzStats {
  execs: number;
  corpus: Buffer[];
  features: number;
  findings: Finding[];
  /** The slowest single run (ms) and its input: a parser that does work out of proportion to its input. */
  slowestMs: number;
  slowest?: Buffer;
  elapsedMs: number;
}

interface ScriptCoverage {
  url: string;
  functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }>;
}

class Coverage {
  private readonly session = new Session();

  constructor(private readonly filter: string[]) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post(method: string, params?: object): unknown {
    let result: unknown;
    let error: Error | null = null;
    let done = false;
    // A session on this thread answers synchronously.
    this.session.post(method, params, (err, res) => {
      error = err;
      result = res;
      done = true;
    });
    if (!done) throw new Error(`inspector ${method} did not answer synchronously`);
    if (error) throw error as Error;
    return result;
  }

  /** The features of everything run since the last call (the counters restart at each call). */
  take(): string[] {
    const { result } = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const features: string[] = [];
    for (const script of result) {
      if (!this.filter.some((f) => script.url.includes(f))) continue;
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          if (r.count > 0) features.push(`${script.url}:${r.startOffset}:${r.endOffset}:${bucket(r.count)}`);
        }
      }
    }
    return features;
  }

  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.post('Profiler.disable');
    this.session.disconnect();
  }
}

/** AFL's hit-count buckets: a loop running once more than before is not news, running 8× instead of 1× is. */
function bucket(count: number): number {
  if (count <= 3) return count;
  if (count <= 7) return 4;
  if (count <= 15) return 8;
  if (count <= 31) return 16;
  if (count <= 127) return 32;
  return 128;
}

/** A seeded PRNG (xorshift32): a run is reproducible from its seed. */
export class Rng {
  constructor(private state: number) {
    if (this.state === 0) this.state = 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING32 = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0x200, 0x1000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
];

export function mutate(input: Buffer, rng: Rng, dictionary: Buffer[], corpus: Buffer[], maxLength: number): Buffer {
  let out = Buffer.from(input);
  const rounds = 1 + rng.below(4);
  for (let i = 0; i < rounds; i++) {
    const pos = rng.below(Math.max(1, out.length));
    switch (rng.below(9)) {
      case 0: // flip a bit
        if (out.length) out[pos] = out[pos]! ^ (1 << rng.below(8));
        break;
      case 1: // a random byte
        if (out.length) out[pos] = rng.below(256);
        break;
      case 2: // an interesting 32-bit value, big- or little-endian
        if (out.length >= pos + 4) {
          const v = INTERESTING32[rng.below(INTERESTING32.length)]!;
          if (rng.below(2)) out.writeUInt32BE(v, pos);
          else out.writeUInt32LE(v, pos);
        }
        break;
      case 3: // add or subtract a little from a 32-bit big-endian field
        if (out.length >= pos + 4) out.writeUInt32BE((out.readUInt32BE(pos) + rng.below(33) - 16) >>> 0, pos);
        break;
      case 4: {
        // delete a run
        const len = 1 + rng.below(Math.min(64, Math.max(1, out.length - pos)));
        out = Buffer.concat([out.subarray(0, pos), out.subarray(pos + len)]);
        break;
      }
      case 5: {
        // duplicate a run
        const len = 1 + rng.below(64);
        out = Buffer.concat([out.subarray(0, pos), out.subarray(pos, pos + len), out.subarray(pos)]);
        break;
      }
      case 6: {
        // a dictionary token, overwritten or inserted
        const token = dictionary[rng.below(dictionary.length)];
        if (!token) break;
        if (rng.below(2)) out = Buffer.concat([out.subarray(0, pos), token, out.subarray(pos)]);
        else token.copy(out, pos);
        break;
      }
      case 7: {
        // splice with another corpus entry
        const other = corpus[rng.below(corpus.length)];
        if (!other || other.length === 0) break;
        const from = rng.below(other.length);
        out = Buffer.concat([out.subarray(0, pos), other.subarray(from, from + 1 + rng.below(256))]);
        break;
      }
      default: // a random printable byte (text formats)
        if (out.length) out[pos] = 0x20 + rng.below(95);
    }
  }
  return out.length > maxLength ? out.subarray(0, maxLength) : out;
}

function findingOf(input: Buffer, err: unknown): Finding {
  const e = err instanceof Error ? err : new Error(String(err));
  const frame =
    (e.stack ?? '')
      .split('\n')
      .find((l) => /\/(src|fuzz)\//.test(l))
      ?.trim() ?? '';
  return {
    input,
    message: `${e.name}: ${e.message}`.slice(0, 500),
    key: createHash('sha1')
      .update(`${e.name}|${frame.replace(/:\d+\)?$/, '')}`)
      .digest('hex')
      .slice(0, 12),
  };
}

export interface FuzzOptions {
  seeds: Buffer[];
  budgetMs: number;
  seed?: number;
  /** Called every ~10 s of a long run. */
  onProgress?: (stats: FuzzStats) => void;
  /** Called when an input joins the corpus (a long run writes it out). */
  onNewInput?: (input: Buffer) => void;
}

export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzStats> {
  const coverage = new Coverage(target.coverage);
  const rng = new Rng(options.seed ?? 1);
  const seen = new Set<string>();
  const corpus: Buffer[] = [];
  const findings = new Map<string, Finding>();
  const started = Date.now();
  let execs = 0;
  let slowestMs = 0;
  let slowest: Buffer | undefined;
  let lastReport = started;
  const stats = (): FuzzStats => ({
    execs,
    corpus,
    features: seen.size,
    findings: [...findings.values()],
    slowestMs,
    ...(slowest ? { slowest } : {}),
    elapsedMs: Date.now() - started,
  });

  const runOne = async (input: Buffer): Promise<boolean> => {
    // One coverage read per run (each costs milliseconds): what ran in between is the engine's own code, outside
    // the target's filter.
    const t0 = performance.now();
    try {
      await target.run(input);
    } catch (err) {
      if (target.isBug(err)) {
        const f = findingOf(input, err);
        if (!findings.has(f.key)) findings.set(f.key, f);
      }
    }
    const ms = performance.now() - t0;
    if (ms > slowestMs) {
      slowestMs = ms;
      slowest = input;
    }
    execs++;
    let fresh = false;
    for (const f of coverage.take()) {
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    }
    return fresh;
  };

  try {
    coverage.take(); // start from zero
    for (const s of options.seeds) if ((await runOne(s)) || corpus.length === 0) corpus.push(s);
    if (corpus.length === 0) corpus.push(Buffer.alloc(0));
    while (Date.now() - started < options.budgetMs) {
      const parent = corpus[rng.below(corpus.length)]!;
      const child = mutate(parent, rng, target.dictionary, corpus, target.maxLength);
      if (await runOne(child)) {
        corpus.push(child);
        options.onNewInput?.(child);
      }
      if (options.onProgress && Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        options.onProgress(stats());
      }
    }
  } finally {
    coverage.close();
  }
  return stats();
}
