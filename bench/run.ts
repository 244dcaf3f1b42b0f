// `npm run bench`: the data path against its peers, measured in one run on this machine and printed as
// ratios. BENCH_DATA_MIB (default 1024) scales the random-data fixture; BENCH_RUNS (default 3) the repeats.
// Fixtures live in a temporary directory that is removed at the end.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openDisk } from '../src/disk/openDisk.js';
import { writeTapVhdFile } from '../src/disk/tapVhdFile.js';
import { tarGz } from '../src/pack/tarGz.js';
import type { CompressorKind } from '../src/pack/compressor.js';
import { GiB, MiB, makeQcow2, sh } from './fixtures.js';
import { mbps, roundRobin } from './timing.js';

const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LEVEL = 6;
const here = path.dirname(fileURLToPath(import.meta.url));

interface Row {
  group: string;
  name: string;
  ms: number;
  bytes: number;
  note?: string;
}
const rows: Row[] = [];

async function ourConversion(src: string, dst: string): Promise<void> {
  const disk = await openDisk({ path: src });
  try {
    await writeTapVhdFile(disk.reader, dst, { flags: 'w', sync: true });
  } finally {
    await disk.close();
  }
}

async function ourPacking(vhd: string, compressor: CompressorKind): Promise<void> {
  const size = (await stat(vhd)).size;
  const { stream, result } = tarGz('0.vhd', createReadStream(vhd, { highWaterMark: 2 * MiB }), size, {
    level: LEVEL,
    compressor,
  });
  await pipeline(stream, new Writable({ write: (_c, _e, cb) => cb() }));
  await result;
}

async function peakRss(src: string): Promise<{ maxRssKiB: number; virtualSize: number; vhdBytes: number; ms: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(here, 'pipelineChild.js'), src, String(LEVEL)],
    { maxBuffer: MiB },
  );
  return JSON.parse(stdout) as { maxRssKiB: number; virtualSize: number; vhdBytes: number; ms: number };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-bench-'));
  try {
    console.error(
      `fixtures in ${dir} (random data ${DATA_MIB} MiB, ${RUNS} runs per case, gzip level ${LEVEL}, ${os.availableParallelism()} cores, load ${os.loadavg()[0]!.toFixed(1)})`,
    );
    const extents = Math.max(1, Math.round(DATA_MIB / 4));
    const qcow2 = path.join(dir, 'random.qcow2');
    await makeQcow2(path.join(dir, 'random.raw'), qcow2, 4 * GiB, extents, 4 * MiB, true);
    const data = extents * 4 * MiB;

    // 1. Conversion: qcow2 → VHD file (output synced), ours vs qemu-img convert -O vpc.
    const ours = path.join(dir, 'ours.vhd');
    const qemu = path.join(dir, 'qemu.vhd');
    // The cases take turns, each after a `sync` (so neither pays for the other's or the fixture's writeback).
    const convertCases: Array<[string, () => Promise<void>]> = [
      ['xenimage (tap VHD)', () => ourConversion(qcow2, ours)],
      [
        'qemu-img convert -O vpc',
        async () => void (await sh(`qemu-img convert -O vpc '${qcow2}' '${qemu}' && sync '${qemu}'`)),
      ],
    ];
    for (const [name, ms] of await roundRobin(convertCases, RUNS + 2, () => sh('sync')))
      rows.push({ group: 'convert', name, ms, bytes: data });

    // 2. Packing the same tap VHD: tar + gzip -6 into a byte-counting sink. The cases take turns (round robin),
    // so a change of load on this shared machine hits them all alike; the median of the runs is reported.
    const vhdSize = (await stat(ours)).size;
    const vdir = path.dirname(ours);
    const packCases: Array<[string, () => Promise<void>]> = [
      ['xenimage threads', () => ourPacking(ours, 'threads')],
      ['xenimage pigz', () => ourPacking(ours, 'pigz')],
      ['xenimage zlib', () => ourPacking(ours, 'zlib')],
      ['tar czf (gzip -6)', async () => void (await sh(`tar -C '${vdir}' -czf - ours.vhd | wc -c`))],
      [
        'tar cf | pigz -p 2',
        async () => void (await sh(`tar -C '${vdir}' -cf - ours.vhd | pigz -p 2 -${LEVEL} | wc -c`)),
      ],
    ];
    for (const [name, ms] of await roundRobin(packCases, RUNS)) rows.push({ group: 'pack', name, ms, bytes: vhdSize });
    await rm(qemu, { force: true });

    // 3. Peak RSS of the whole pipeline, small and 9 GiB sparse disks.
    const small = path.join(dir, 'small.qcow2');
    const big = path.join(dir, 'big.qcow2');
    await makeQcow2(path.join(dir, 'small.raw'), small, 1 * GiB, 16, 4 * MiB, false);
    await makeQcow2(path.join(dir, 'big.raw'), big, 9 * GiB, 256, 4 * MiB, false);
    // And incompressible data: the compressed output (which the consumer owns) is then as large as the input.
    const bigRandom = path.join(dir, 'big-random.qcow2');
    await makeQcow2(path.join(dir, 'big-random.raw'), bigRandom, 9 * GiB, 256, 4 * MiB, true);
    for (const [name, file] of [
      ['1 GiB disk, 64 MiB data', small],
      ['9 GiB disk, 1 GiB data', big],
      ['9 GiB disk, 1 GiB random data', bigRandom],
    ] as const) {
      const r = await peakRss(file);
      rows.push({
        group: 'memory',
        name: `pipeline, ${name}`,
        ms: r.ms,
        bytes: r.vhdBytes,
        note: `peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MiB`,
      });
    }
    print(vhdSize);
    console.log(
      `  load average at the end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (the machine is shared: compare ratios, not absolutes)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function print(vhdSize: number): void {
  const find = (name: string) => rows.find((r) => r.name === name)!;
  const ratio = (a: Row, b: Row) => (b.ms / a.ms).toFixed(2);
  console.log('\n| group | case | time (median) | MB/s | note |\n|---|---|---:|---:|---|');
  for (const r of rows)
    console.log(
      `| ${r.group} | ${r.name} | ${(r.ms / 1000).toFixed(2)} s | ${mbps(r.bytes, r.ms)} | ${r.note ?? ''} |`,
    );
  const ours = find('xenimage (tap VHD)');
  const threads = find('xenimage threads');
  console.log('\nRatios (higher is better for xenimage):');
  console.log(`  conversion vs qemu-img convert -O vpc: ${ratio(ours, find('qemu-img convert -O vpc'))}× (goal ≥ 1.0)`);
  console.log(`  packing (threads) vs tar czf:          ${ratio(threads, find('tar czf (gzip -6)'))}× (goal ≥ 1.8)`);
  console.log(`  packing (threads) vs tar | pigz -p 2:  ${ratio(threads, find('tar cf | pigz -p 2'))}×`);
  console.log(`  packing (threads) vs xenimage pigz:    ${ratio(threads, find('xenimage pigz'))}×`);
  console.log(`  packing (threads) vs Node zlib 1 core: ${ratio(threads, find('xenimage zlib'))}×`);
  const mem = rows
    .filter((r) => r.group === 'memory')
    .map((r) => `${r.name.replace('pipeline, ', '')}: ${r.note!.replace('peak RSS ', '')}`)
    .join('; ');
  console.log(`  peak RSS: ${mem} (goal ≤ 128 MiB, flat in disk size); VHD packed: ${(vhdSize / MiB).toFixed(0)} MiB`);
}

await main();
