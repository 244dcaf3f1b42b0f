// A long fuzz run from the command line: `node dist/fuzz/run.js <target> [seconds] [out-dir]`. Seeds come from
// fuzz/corpus/<target>/; inputs that reach new coverage are written to <out-dir>/corpus, findings to
// <out-dir>/findings; a line of statistics every 10 s and a JSON summary at the end.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fuzz, type FuzzStats } from './engine.js';
import { loadSeeds } from './seeds.js';
import { TARGETS } from './targets.js';

const [name = '', seconds = '60', out = path.join('fuzz', 'out', name)] = process.argv.slice(2);
const target = TARGETS[name];
if (!target) {
  console.error(`unknown target "${name}"; targets: ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}
const corpusDir = path.join(out, 'corpus');
const findingsDir = path.join(out, 'findings');
mkdirSync(corpusDir, { recursive: true });
mkdirSync(findingsDir, { recursive: true });
const line = (s: FuzzStats) =>
  `${Math.round(s.elapsedMs / 1000)}s execs=${s.execs} exec/s=${Math.round((s.execs * 1000) / Math.max(1, s.elapsedMs))} corpus=${s.corpus.length} features=${s.features} findings=${s.findings.length} slowest=${s.slowestMs.toFixed(1)}ms`;
const stats = await fuzz(target, {
  seeds: await loadSeeds(name),
  budgetMs: Number(seconds) * 1000,
  seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31),
  onProgress: (s) => console.log(line(s)),
  onNewInput: (input) => writeFileSync(path.join(corpusDir, createHash('sha1').update(input).digest('hex')), input),
});
for (const f of stats.findings) {
  writeFileSync(path.join(findingsDir, `${f.key}.bin`), f.input);
  writeFileSync(path.join(findingsDir, `${f.key}.txt`), `${f.message}\n`);
}
console.log(line(stats));
console.log(
  JSON.stringify({
    target: name,
    execs: stats.execs,
    seconds: Math.round(stats.elapsedMs / 1000),
    corpus: stats.corpus.length,
    features: stats.features,
    findings: stats.findings.map((f) => ({ key: f.key, message: f.message })),
    slowestMs: Math.round(stats.slowestMs),
  }),
);
