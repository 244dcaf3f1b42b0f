// Packing a tap VHD (tar with one entry `0.vhd` → one gzip member → MD5 + SHA-512 of the compressed bytes) against
// the shell: `tar czf`, and `tar cf - | pigz -p <cores>` with the same two hashes computed (md5sum and sha512sum
// reading the compressed stream through tee, each on its own core). Whole processes taking turns, gzip level 6,
// outputs discarded.
import os from 'node:os';
import path from 'node:path';
import { alternate, type ProcCase } from './proc.js';
import { loadNow, speedRatio, type CaseResult, type GroupResult } from './results.js';
import { sh } from './fixtures.js';

export interface PackBenchOptions {
  vhd: string;
  distDir: string;
  runs: number;
  dataMiB: number;
  log: (line: string) => void;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export async function packGroup(o: PackBenchOptions): Promise<GroupResult> {
  const load = { before: loadNow(), after: [] as number[] };
  const cores = os.availableParallelism();
  const dir = quote(path.dirname(o.vhd));
  const file = quote(path.basename(o.vhd));
  const child = (engine: string) => [
    process.execPath,
    path.join(o.distDir, 'bench/packChild.js'),
    o.vhd,
    '/dev/null',
    engine,
    '6',
  ];
  const cases: Array<ProcCase & { ours: boolean }> = [
    { name: 'xenimage (threads engine, hashed)', ours: true, argv: child('threads') },
    { name: 'xenimage (pigz engine, hashed)', ours: true, argv: child('pigz') },
    { name: 'xenimage (zlib, 1 core, hashed)', ours: true, argv: child('zlib') },
    {
      name: `tar cf | pigz -p ${cores} | md5sum + sha512sum`,
      ours: false,
      argv: [
        'sh',
        '-c',
        `f=$(mktemp -u) && mkfifo "$f" && { md5sum < "$f" > /dev/null & } && tar -C ${dir} -cf - ${file} | pigz -p ${cores} -6 | tee "$f" | sha512sum > /dev/null; s=$?; wait; rm -f "$f"; exit $s`,
      ],
    },
    {
      name: `tar cf | pigz -p ${cores} (no hashes)`,
      ours: false,
      argv: ['sh', '-c', `tar -C ${dir} -cf - ${file} | pigz -p ${cores} -6 > /dev/null`],
    },
    {
      name: 'tar czf (gzip -6, no hashes)',
      ours: false,
      argv: ['sh', '-c', `tar -C ${dir} -czf - ${file} > /dev/null`],
    },
  ];
  const results = await alternate(cases, {
    runs: o.runs,
    warmup: 0,
    between: () => sh('sync'),
    onRun: (name, r) =>
      o.log(`  ${name}: ${r.wallS.toFixed(2)} s wall, ${r.cpuS.toFixed(2)} s cpu, ${r.peakMiB.toFixed(0)} MiB`),
  });
  load.after = loadNow();
  const caseResults: CaseResult[] = cases.map((c) => ({ name: c.name, ours: c.ours, runs: results.get(c.name)! }));
  const [threads, , , pigzHashed, pigzBare, tarCzf] = caseResults as CaseResult[];
  return {
    id: 'pack',
    title: 'Packing a tap VHD: tar → gzip -6 → MD5 + SHA-512',
    description:
      `A tap VHD holding ${o.dataMiB} MiB of random data (incompressible: the worst case for gzip), packed into a ` +
      `discarding sink. Ours computes MD5 and SHA-512 of the compressed bytes as they pass; so does the first shell ` +
      `peer (md5sum and sha512sum on the stream, through tee); the last two peers hash nothing. ${cores} cores.`,
    cases: caseResults,
    ratios: [
      speedRatio(`wall: (tar | pigz -p ${cores} + hashes) / xenimage threads`, threads!, pigzHashed!, 1.0),
      speedRatio(`wall: (tar | pigz -p ${cores}, no hashes) / xenimage threads`, threads!, pigzBare!),
      speedRatio('wall: tar czf / xenimage threads', threads!, tarCzf!, 1.8),
    ],
    load,
  };
}
