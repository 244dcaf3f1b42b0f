// Conversion to a tap VHD against `qemu-img convert -O vpc`, whole processes taking turns, for a qcow2, a dynamic
// VHD and a sparse raw source holding the same random data. Headline: outputs left in the page cache (neither
// side syncs; a `sync` before every run, untimed, so no run pays for the previous one's writeback). Beside it:
// the same with the output synced inside the timed command. `xenimage convert` runs through the CLI and through
// a minimal driver of the same code path (bench/convertChild.ts), which tells the CLI's start-up apart.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { alternate, type ProcCase } from './proc.js';
import { cpuRatio, loadNow, peakLimit, speedRatio, type CaseResult, type GroupResult } from './results.js';
import { sh } from './fixtures.js';

export interface ConvertSource {
  label: string;
  file: string;
  /** qemu-img's name for the format (for `qemu-img compare -f`). */
  qemuFormat: string;
}

export interface ConvertBenchOptions {
  dir: string;
  distDir: string;
  runs: number;
  dataMiB: number;
  log: (line: string) => void;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function commands(distDir: string, src: string, dst: string): Array<{ name: string; ours: boolean; argv: string[] }> {
  return [
    {
      name: 'xenimage convert (CLI)',
      ours: true,
      argv: [process.execPath, path.join(distDir, 'src/cli/main.js'), 'convert', src, dst],
    },
    {
      name: 'xenimage convert (driver, no CLI start-up)',
      ours: true,
      argv: [process.execPath, path.join(distDir, 'bench/convertChild.js'), src, dst],
    },
    { name: 'qemu-img convert -O vpc', ours: false, argv: ['qemu-img', 'convert', '-O', 'vpc', src, dst] },
  ];
}

async function identical(src: ConvertSource, dst: string): Promise<void> {
  const out = await sh(`qemu-img compare -f ${src.qemuFormat} -F vpc ${quote(src.file)} ${quote(dst)}`);
  if (!/identical/.test(out)) throw new Error(`${dst} differs from ${src.file}: ${out}`);
}

export async function convertGroup(
  source: ConvertSource,
  synced: boolean,
  o: ConvertBenchOptions,
): Promise<GroupResult> {
  const load = { before: loadNow(), after: [] as number[] };
  const checked = new Set<string>();
  const cases: ProcCase[] = commands(o.distDir, source.file, '').map((c, i) => {
    const dst = path.join(o.dir, `out-${i}.vhd`);
    const argv = commands(o.distDir, source.file, dst)[i]!.argv;
    return {
      name: c.name,
      argv: synced ? ['sh', '-c', `${argv.map(quote).join(' ')} && sync ${quote(dst)}`] : argv,
      before: () => rm(dst, { force: true }),
      // Every command's output is compared with the source once (a fast wrong answer is no result).
      after: async () => {
        if (checked.has(c.name)) return;
        await identical(source, dst);
        checked.add(c.name);
      },
    };
  });
  const results = await alternate(cases, {
    runs: o.runs,
    between: () => sh('sync'),
    onRun: (name, r) =>
      o.log(`  ${name}: ${r.wallS.toFixed(2)} s wall, ${r.cpuS.toFixed(2)} s cpu, ${r.peakMiB.toFixed(0)} MiB`),
  });
  for (let i = 0; i < cases.length; i++) await rm(path.join(o.dir, `out-${i}.vhd`), { force: true });
  load.after = loadNow();
  const kinds = commands(o.distDir, '', '');
  const caseResults: CaseResult[] = kinds.map((k) => ({ name: k.name, ours: k.ours, runs: results.get(k.name)! }));
  const [cli, driver, qemu] = caseResults as [CaseResult, CaseResult, CaseResult];
  return {
    id: `convert-${source.qemuFormat}${synced ? '-synced' : ''}`,
    title: `Conversion: ${source.label} → tap VHD${synced ? ' (output synced)' : ''}`,
    description:
      `${source.label}, 4 GiB virtual, ${o.dataMiB} MiB of random data in 4 MiB extents → a VHD file. ` +
      (synced
        ? 'Each command ends with `sync DST` inside the timed process: the time includes writing the output to disk.'
        : 'Outputs stay in the page cache (no sync in the timed command; `sync` runs untimed before every run).') +
      ' Whole processes, start-up included, taking turns run by run; every output checked with `qemu-img compare`.',
    cases: caseResults,
    ratios: [
      speedRatio('wall: qemu-img / xenimage convert (CLI)', cli, qemu, 1.0),
      speedRatio('wall: qemu-img / driver', driver, qemu, 1.0),
      cpuRatio('CPU (user+sys): xenimage convert (CLI) / qemu-img', cli, qemu, 1.5),
      cpuRatio('CPU (user+sys): driver / qemu-img', driver, qemu, 1.5),
      peakLimit('peak RSS, xenimage convert (CLI)', cli, 64),
      peakLimit('peak RSS, driver', driver, 64),
    ],
    load,
  };
}
