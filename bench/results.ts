// What a bench group hands the report: its cases' runs, the ratios against the peers with their goals, the
// machine's load while it ran, and free-form rows for figures that are not whole-process timings.
import os from 'node:os';
import type { ProcRun } from './proc.js';
import { pairedRatio, summarize, type Summary } from './stats.js';

export interface CaseResult {
  name: string;
  ours: boolean;
  runs: ProcRun[];
}

export interface RatioResult {
  label: string;
  /** e.g. "≥ 1.0×"; empty for a ratio shown for information. */
  goal: string;
  value: Summary;
  /** undefined when there is no goal. */
  met: boolean | undefined;
}

export interface GroupResult {
  id: string;
  title: string;
  /** What was measured and how, one paragraph. */
  description: string;
  cases: CaseResult[];
  ratios: RatioResult[];
  /** Load averages (1, 5, 15 min) when the group started and ended. */
  load: { before: number[]; after: number[] };
  /** Extra rows (label → value) shown under the table. */
  facts?: Array<[string, string]>;
  /** Which figure the chart shows (default wall seconds). */
  chart?: 'wall' | 'peak';
}

export function loadNow(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

export const wall = (c: CaseResult) => c.runs.map((r) => r.wallS);
export const cpu = (c: CaseResult) => c.runs.map((r) => r.cpuS);
export const peak = (c: CaseResult) => c.runs.map((r) => r.peakMiB);

/** "How many times faster ours is": peer's wall / ours, pair by pair. */
export function speedRatio(label: string, ours: CaseResult, peer: CaseResult, min?: number): RatioResult {
  const value = pairedRatio(wall(ours), wall(peer));
  if (min === undefined) return { label, goal: '', value, met: undefined };
  return { label, goal: `≥ ${min.toFixed(1)}×`, value, met: value.median >= min };
}

/** Ours' CPU seconds over the peer's, pair by pair (lower is better). */
export function cpuRatio(label: string, ours: CaseResult, peer: CaseResult, max: number): RatioResult {
  const value = pairedRatio(cpu(peer), cpu(ours));
  return { label, goal: `≤ ${max.toFixed(1)}×`, value, met: value.median <= max };
}

/** Ours' peak RSS against a fixed ceiling. */
export function peakLimit(label: string, ours: CaseResult, maxMiB: number): RatioResult {
  const value = summarize(peak(ours));
  return { label, goal: `≤ ${maxMiB} MiB`, value, met: value.median <= maxMiB };
}
