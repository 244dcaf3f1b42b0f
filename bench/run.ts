// `npm run bench`: the data path against its peers, whole processes taking turns, written to docs/benchmarks.md
// with a chart per group. Environment: BENCH_RUNS (timed runs per case, default 7; packing and the recipe use
// fewer, see below), BENCH_DATA_MIB (random data in the conversion and recipe fixtures, default 1024),
// BENCH_PACK_MIB (random data in the packing fixture, default 512), BENCH_GROUPS (a
// comma list of group names to run: convert, convert-synced, pack, memory, recipe; default all). Fixtures live in
// a temporary directory removed at the end. Needs qemu-img, pigz, GNU time; the recipe also needs the lab's
// Keystone + Glance packages and python3-openstackclient.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertGroup, type ConvertSource } from './convertBench.js';
import { GiB, MiB, makeQcow2, sh } from './fixtures.js';
import { memoryGroup } from './memoryBench.js';
import { packGroup } from './packBench.js';
import { requireGnuTime } from './proc.js';
import { recipeGroup } from './recipeBench.js';
import { describeMachine, writeReport } from './report.js';
import type { GroupResult } from './results.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const PACK_RUNS = Math.max(1, Math.ceil(RUNS / 2));
const RECIPE_RUNS = Math.max(1, Math.ceil(RUNS / 3));
const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 1024);
/** Packing runs at gzip's pace (tens of MB/s): its fixture is smaller so the whole bench stays within ~30 min. */
const PACK_MIB = Number(process.env.BENCH_PACK_MIB ?? Math.min(512, DATA_MIB));
const GROUPS = new Set(
  (process.env.BENCH_GROUPS ?? 'convert,convert-synced,pack,memory,recipe').split(',').map((s) => s.trim()),
);
const here = path.dirname(fileURLToPath(import.meta.url));
const distDir = path.resolve(here, '..');
const repoDir = path.resolve(distDir, '..');
const log = (line: string) => console.error(line);

async function main(): Promise<void> {
  requireGnuTime();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-bench-'));
  const groups: GroupResult[] = [];
  try {
    log(
      `fixtures in ${dir}; ${RUNS} runs per conversion case; load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const qcow2 = path.join(dir, 'random.qcow2');
    await makeQcow2(path.join(dir, 'random.raw'), qcow2, 4 * GiB, Math.max(1, Math.round(DATA_MIB / 4)), 4 * MiB, true);
    const sources: ConvertSource[] = [{ label: 'qcow2', file: qcow2, qemuFormat: 'qcow2' }];
    if (GROUPS.has('convert')) {
      const vhd = path.join(dir, 'random.vhd');
      const raw = path.join(dir, 'random.raw');
      await sh(`qemu-img convert -O vpc '${qcow2}' '${vhd}' && qemu-img convert -O raw '${qcow2}' '${raw}'`);
      sources.push({ label: 'dynamic VHD (qemu-img)', file: vhd, qemuFormat: 'vpc' });
      sources.push({ label: 'sparse raw', file: raw, qemuFormat: 'raw' });
      for (const source of sources) {
        log(`convert: ${source.label}`);
        groups.push(await convertGroup(source, false, { dir, distDir, runs: RUNS, dataMiB: DATA_MIB, log }));
      }
      await rm(vhd, { force: true });
      await rm(raw, { force: true });
    }
    if (GROUPS.has('convert-synced')) {
      log('convert, synced: qcow2');
      groups.push(await convertGroup(sources[0]!, true, { dir, distDir, runs: RUNS, dataMiB: DATA_MIB, log }));
    }
    await rm(qcow2, { force: true });
    if (GROUPS.has('pack')) {
      const packQcow2 = path.join(dir, 'pack.qcow2');
      const extents = Math.max(1, Math.round(PACK_MIB / 4));
      await makeQcow2(path.join(dir, 'pack.raw'), packQcow2, 4 * GiB, extents, 4 * MiB, true);
      const vhd = path.join(dir, 'pack', '0.vhd');
      const driver = path.join(distDir, 'bench/convertChild.js');
      await sh(`mkdir -p '${path.dirname(vhd)}' && node '${driver}' '${packQcow2}' '${vhd}' > /dev/null`);
      await rm(packQcow2, { force: true });
      log('pack');
      groups.push(await packGroup({ vhd, distDir, runs: PACK_RUNS, dataMiB: PACK_MIB, log }));
      await rm(path.dirname(vhd), { recursive: true, force: true });
    }
    if (GROUPS.has('memory')) {
      log('memory');
      groups.push(await memoryGroup({ dir, distDir, runs: 3, log }));
    }
    if (GROUPS.has('recipe')) {
      log('recipe');
      groups.push(...(await recipeGroup({ dir, distDir, runs: RECIPE_RUNS, dataMiB: DATA_MIB, log })));
    }
    const machine = describeMachine(
      `${RUNS} per conversion case, ${PACK_RUNS} per packing case, ${RECIPE_RUNS} per recipe case, after one untimed warm-up round (none for packing and the recipe)`,
    );
    const file = await writeReport(path.join(repoDir, 'docs'), machine, groups);
    log(`wrote ${path.relative(process.cwd(), file)}`);
    for (const g of groups) {
      console.log(`\n${g.title}`);
      for (const r of g.ratios) {
        const verdict = r.met === undefined ? '' : r.met ? '  met' : '  NOT MET';
        console.log(
          `  ${r.label}: ${r.value.median.toFixed(2)} (${r.value.min.toFixed(2)}–${r.value.max.toFixed(2)}) ${r.goal}${verdict}`,
        );
      }
      console.log(`  load ${g.load.before.join(' ')} → ${g.load.after.join(' ')}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
