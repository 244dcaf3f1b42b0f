// Each fuzz target for a short fixed budget from its seed corpus (fuzz/corpus/<target>/): no finding, and the
// mutations reach coverage the seeds alone did not. Long runs: `node dist/fuzz/run.js <target> <seconds>`
// (docs/decisions/fuzz-0001-v8-coverage-guided-fuzzer.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz } from '../../fuzz/engine.js';
import { loadSeeds } from '../../fuzz/seeds.js';
import { TARGETS } from '../../fuzz/targets.js';

const BUDGET_MS = 2500;

for (const target of Object.values(TARGETS)) {
  test(`fuzz ${target.name}: ${BUDGET_MS} ms from the seed corpus finds nothing and grows the corpus`, async () => {
    const seeds = await loadSeeds(target.name);
    assert.ok(seeds.length > 0, 'a seed corpus');
    const stats = await fuzz(target, { seeds, budgetMs: BUDGET_MS, seed: 7 });
    assert.deepEqual(
      stats.findings.map((f) => f.message),
      [],
      `findings: ${stats.findings.map((f) => `${f.key} ${f.input.toString('base64').slice(0, 200)}`).join('; ')}`,
    );
    assert.ok(stats.execs > seeds.length, `${stats.execs} runs`);
    assert.ok(
      stats.corpus.length > seeds.length,
      `the corpus grew (${stats.corpus.length}, ${stats.features} features)`,
    );
  });
}
