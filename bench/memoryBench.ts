// Peak memory, flat in disk size: the same data in ever larger virtual disks, through `xenimage convert` (the
// driver of its code path, to a .vhd) and through the whole packing pipeline (tap VHD → tar → gzip → hashes,
// bench/pipelineChild.ts). Whole processes; the kernel's peak RSS of each.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { GiB, MiB, makeQcow2, sh } from './fixtures.js';
import { alternate, type ProcCase } from './proc.js';
import { loadNow, peakLimit, type CaseResult, type GroupResult, type RatioResult } from './results.js';
import { summarize } from './stats.js';

export interface MemoryBenchOptions {
  dir: string;
  distDir: string;
  runs: number;
  log: (line: string) => void;
}

export async function memoryGroup(o: MemoryBenchOptions): Promise<GroupResult> {
  const load = { before: loadNow(), after: [] as number[] };
  const disks: Array<{ label: string; size: number; random: boolean }> = [
    { label: '1 GiB disk, 64 MiB data', size: 1 * GiB, random: true },
    { label: '64 GiB disk, 64 MiB data', size: 64 * GiB, random: true },
    { label: '1 TiB disk, 64 MiB data', size: 1024 * GiB, random: true },
  ];
  const cases: ProcCase[] = [];
  const files: string[] = [];
  for (const [i, d] of disks.entries()) {
    const file = path.join(o.dir, `mem-${i}.qcow2`);
    await makeQcow2(path.join(o.dir, `mem-${i}.raw`), file, d.size, 16, 4 * MiB, d.random);
    files.push(file);
    const dst = path.join(o.dir, `mem-${i}.vhd`);
    cases.push({
      name: `convert to .vhd, ${d.label}`,
      argv: [process.execPath, path.join(o.distDir, 'bench/convertChild.js'), file, dst],
      before: () => rm(dst, { force: true }),
    });
    cases.push({
      name: `pack to .tgz, ${d.label}`,
      argv: [process.execPath, path.join(o.distDir, 'bench/pipelineChild.js'), file, '6'],
    });
  }
  const results = await alternate(cases, {
    runs: o.runs,
    between: () => sh('sync'),
    onRun: (name, r) => o.log(`  ${name}: ${r.peakMiB.toFixed(1)} MiB, ${r.wallS.toFixed(2)} s`),
  });
  for (const f of files) await rm(f, { force: true });
  for (let i = 0; i < disks.length; i++) await rm(path.join(o.dir, `mem-${i}.vhd`), { force: true });
  load.after = loadNow();
  const caseResults: CaseResult[] = cases.map((c) => ({ name: c.name, ours: true, runs: results.get(c.name)! }));
  const medians = (prefix: string) =>
    caseResults.filter((c) => c.name.startsWith(prefix)).map((c) => summarize(c.runs.map((r) => r.peakMiB)).median);
  const growth = (prefix: string): RatioResult => {
    const m = medians(prefix);
    const value = summarize([m[m.length - 1]! - m[0]!]);
    return { label: `${prefix}: peak growth from 1 GiB to 1 TiB disk`, goal: '≤ 8 MiB', value, met: value.median <= 8 };
  };
  return {
    id: 'memory',
    title: 'Peak memory against disk size',
    description:
      'qcow2 disks of 1 GiB, 64 GiB and 1 TiB holding the same 64 MiB of random data (16 extents of 4 MiB). ' +
      '"convert" is the `xenimage convert` code path writing a .vhd (bench/convertChild.ts); "pack" is the whole ' +
      'packing pipeline into a discarding sink (bench/pipelineChild.ts). Peak RSS as the kernel accounts it. ' +
      'What grows with the disk is the VHD block table itself (4 bytes per 2 MiB of disk: 2 MiB per TiB).',
    cases: caseResults,
    ratios: [
      ...caseResults.filter((c) => c.name.startsWith('convert')).map((c) => peakLimit(`peak RSS, ${c.name}`, c, 64)),
      ...caseResults.filter((c) => c.name.startsWith('pack')).map((c) => peakLimit(`peak RSS, ${c.name}`, c, 128)),
      growth('convert to .vhd'),
      growth('pack to .tgz'),
    ],
    load,
    chart: 'peak',
  };
}
