// How `xenimage status` and `xenimage logs` show a build: steps with their durations, the current step and its
// attempt, a progress bar during transfers on a terminal (plain lines otherwise, for logs and pipes), and the
// guest logs a Windows build collected. Pure functions of what the CLI read from Temporal.
import type { BuildProgress, GuestLogCollection, StepRecord } from '../contracts/messages.js';

export interface BuildStatus {
  id: string;
  type: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, … */
  status: string;
  started: string;
  closed?: string | undefined;
  /** The XenimageStep search attribute: the current step, or the final state once closed. */
  step?: string | undefined;
  progress?: BuildProgress | undefined;
  result?: unknown;
  failure?: string | undefined;
}

export interface ViewOptions {
  /** A terminal: a progress bar; otherwise plain figures. */
  tty: boolean;
  /** The clock a running step's duration is measured against. */
  now: Date;
}

/** 3.2s, 4m05s, 2h03m: the duration of a step at a glance. */
export function formatDuration(ms: number): string {
  if (ms < 0 || !Number.isFinite(ms)) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function stepDuration(step: StepRecord, now: Date): number | undefined {
  if (!step.startedAt) return undefined;
  const end = step.endedAt ? Date.parse(step.endedAt) : now.getTime();
  return end - Date.parse(step.startedAt);
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/** `[#####.....] 50.0% 12.0 MiB / 24.0 MiB` on a terminal; `12582912 / 25165824 bytes (50.0%)` otherwise. */
export function transferLine(done: number, total: number, tty: boolean, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const pct = `${(ratio * 100).toFixed(1)}%`;
  if (!tty) return `${done} / ${total} bytes (${pct})`;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct} ${mib(done)} / ${mib(total)}`;
}

export function renderStatus(s: BuildStatus, view: ViewOptions): string[] {
  const lines = [`${s.id}  ${s.type}  ${s.status}`];
  lines.push(`  started ${s.started}${s.closed ? `, closed ${s.closed}` : ''}`);
  const p = s.progress;
  if (p) {
    const attempt = p.attempt > 1 ? ` (attempt ${p.attempt})` : '';
    lines.push(`  state   ${p.state}${p.state === 'running' ? `: ${p.step}${attempt}` : ''}`);
    if (p.waitingFor) lines.push(`  waiting ${p.waitingFor}`);
    if (p.bytesTotal) lines.push(`  bytes   ${transferLine(p.bytesDone ?? 0, p.bytesTotal, view.tty)}`);
    lines.push('  steps');
    for (const step of p.steps) {
      const d = stepDuration(step, view.now);
      const took = d === undefined ? '' : formatDuration(d);
      const attemptText = step.attempt > 1 ? ` #${step.attempt}` : '';
      lines.push(
        `    ${step.status.padEnd(7)} ${took.padStart(7)}  ${step.step}${attemptText}${step.note ? ` — ${step.note}` : ''}`,
      );
    }
    for (const w of p.warnings ?? []) lines.push(`  warning ${w}`);
  } else if (s.step) lines.push(`  step    ${s.step}`);
  if (s.failure) lines.push(`  failure ${s.failure}`);
  if (s.result !== undefined) lines.push(`  result  ${JSON.stringify(s.result)}`);
  return lines;
}

/** The guest logs of a build, one block per collection and file. */
export function renderGuestLogs(collections: GuestLogCollection[]): string[] {
  const lines: string[] = [];
  for (const c of collections) {
    lines.push(`== attempt ${c.attempt}, ${c.moment}, ${c.collectedAt} ==`);
    for (const f of c.files) {
      lines.push(`--- ${f.path}${f.truncated ? ' (earlier lines dropped)' : ''}`);
      lines.push(...f.lines);
    }
    if (c.missing.length > 0) lines.push(`(not on the guest: ${c.missing.join(', ')})`);
  }
  return lines;
}
