// Writes docs/benchmarks.md and one SVG chart per group into docs/benchmarks/. The section between the
// PRODUCTION markers belongs to whoever records production figures (scale, chaos, stall): it is carried over
// unchanged from the existing file each time the bench rewrites the page.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { barChart } from './svg.js';
import { fmt, fmtSpread, summarize } from './stats.js';
import type { GroupResult } from './results.js';

const PRODUCTION_START = '<!-- PRODUCTION FIGURES: start (kept as is by `npm run bench`) -->';
const PRODUCTION_END = '<!-- PRODUCTION FIGURES: end -->';
const PRODUCTION_PLACEHOLDER = `## Production figures (scale, chaos, stall)

Not measured by \`npm run bench\`. This section is kept as written when the bench rewrites the page: record
figures from production-like runs here (many builds at once, faults injected, stalled transfers), with the
machine, the date and the load.

_No figures recorded yet._`;

export interface Machine {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  qemuImg: string;
  runs: string;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

export function describeMachine(runs: string): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    qemuImg: firstLine('qemu-img', ['--version']),
    runs,
  };
}

/** A table cell: a literal `|` (as in "tar | pigz") would end the cell. */
const cell = (s: string) => s.replaceAll('|', '\\|');

const unitOf = (g: GroupResult) => (g.chart === 'peak' ? 'MiB' : 's');

function caseTable(g: GroupResult): string {
  const rows = g.cases.map((c) => {
    const w = summarize(c.runs.map((r) => r.wallS));
    const cpu = summarize(c.runs.map((r) => r.cpuS));
    const p = summarize(c.runs.map((r) => r.peakMiB));
    const name = c.ours ? `**${cell(c.name)}**` : cell(c.name);
    return `| ${name} | ${fmtSpread(w)} | ${fmt(w.q1)}–${fmt(w.q3)} | ${fmtSpread(cpu)} | ${fmtSpread(p, 0)} | ${c.runs.length} |`;
  });
  return [
    '| case | wall s, median (min–max) | wall IQR | CPU s (user+sys), median (min–max) | peak RSS MiB, median (min–max) | runs |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

function ratioTable(g: GroupResult): string {
  if (g.ratios.length === 0) return '';
  const rows = g.ratios.map((r) => {
    const unit = r.goal.includes('MiB') ? ' MiB' : '×';
    const verdict = r.met === undefined ? '(for information)' : r.met ? 'met' : '**not met**';
    return `| ${cell(r.label)} | ${fmt(r.value.median)}${unit} (${fmt(r.value.min)}–${fmt(r.value.max)}) | ${r.goal || '—'} | ${verdict} |`;
  });
  return ['| figure | median (min–max) | goal | verdict |', '|---|---:|---|---|', ...rows].join('\n');
}

const loadText = (g: GroupResult) =>
  `load average (1/5/15 min) ${g.load.before.map((l) => fmt(l)).join(' / ')} at the start, ${g.load.after.map((l) => fmt(l)).join(' / ')} at the end`;

async function keptProduction(file: string): Promise<string> {
  if (!existsSync(file)) return PRODUCTION_PLACEHOLDER;
  const text = await readFile(file, 'utf8');
  const start = text.indexOf(PRODUCTION_START);
  const end = text.indexOf(PRODUCTION_END);
  if (start < 0 || end < start) return PRODUCTION_PLACEHOLDER;
  return text.slice(start + PRODUCTION_START.length, end).trim();
}

export async function writeReport(docsDir: string, machine: Machine, groups: GroupResult[]): Promise<string> {
  const file = path.join(docsDir, 'benchmarks.md');
  const chartDir = path.join(docsDir, 'benchmarks');
  await mkdir(chartDir, { recursive: true });
  const production = await keptProduction(file);
  // A partial run (BENCH_GROUPS) keeps the other groups' last sections.
  const previous = existsSync(file) ? await readFile(file, 'utf8') : '';
  const sections: string[] = [];
  for (const g of groups) {
    const metric = g.chart === 'peak' ? 'peakMiB' : 'wallS';
    const svg = barChart({
      title: g.title,
      subtitle: `${machine.date}, ${machine.cores} cores; ${loadText(g)}`,
      unit: g.chart === 'peak' ? 'peak RSS, MiB' : 'wall seconds, whole process',
      rows: g.cases.map((c) => ({ label: c.name, ours: c.ours, summary: summarize(c.runs.map((r) => r[metric])) })),
    });
    await writeFile(path.join(chartDir, `${g.id}.svg`), svg);
    sections.push(
      [
        `<!-- group:${g.id} -->`,
        `### ${g.title}`,
        '',
        g.description,
        '',
        `![${g.title}](benchmarks/${g.id}.svg)`,
        '',
        caseTable(g),
        '',
        ratioTable(g),
        '',
        ...(g.facts?.length
          ? ['| fact | value |', '|---|---:|', ...g.facts.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`), '']
          : []),
        `Measured ${machine.date}; ${loadText(g)}. Chart unit: ${unitOf(g) === 's' ? 'wall seconds' : 'MiB'}.`,
        `<!-- /group:${g.id} -->`,
      ].join('\n'),
    );
  }
  const measured = new Set(groups.map((g) => g.id));
  for (const m of previous.matchAll(/<!-- group:([\w-]+) -->[\s\S]*?<!-- \/group:\1 -->/g)) {
    if (!measured.has(m[1]!)) sections.push(m[0]);
  }
  const goals = groups.flatMap((g) =>
    g.ratios
      .filter((r) => r.met !== undefined)
      .map(
        (r) =>
          `| ${cell(g.title)} | ${cell(r.label)} | ${fmt(r.value.median)}${r.goal.includes('MiB') ? ' MiB' : '×'} | ${r.goal} | ${r.met ? 'met' : '**not met**'} | <!-- goal:${g.id} -->`,
      ),
  );
  // Goals of groups not measured this time stay, as their sections do (each row names its group's id).
  for (const m of previous.matchAll(/^\|.*<!-- goal:([\w-]+) -->$/gm)) if (!measured.has(m[1]!)) goals.push(m[0]);
  const text = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts) on the machine below; rerun it to refresh. Every figure is a whole
process timed from outside — start-up included — with the kernel's accounting of its CPU time and peak memory
(GNU time). Ours and the peers take turns run by run (A B A B …), so a change in the machine's load hits both;
ratios are taken pair by pair and their median is quoted, with the spread (min–max, and the interquartile
range of wall times). This machine is shared with other jobs: compare the ratios, read the load next to them.

- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.kernel}; Node ${machine.node}
- peer: ${machine.qemuImg}
- runs: ${machine.runs}
- written: ${machine.date}

## Goals (each group's last run)

| group | figure | median | goal | verdict | |
|---|---|---:|---|---|---|
${goals.join('\n')}

## Groups

${sections.join('\n\n')}

${PRODUCTION_START}
${production}
${PRODUCTION_END}
`;
  await writeFile(file, text);
  return file;
}
