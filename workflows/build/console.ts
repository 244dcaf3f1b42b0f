// The build as the Temporal Web UI shows it while it runs (docs/operator-guide.md, "The Web UI as a console"):
// every activity's summary names the step that scheduled it, and the workflow's current details (the UI's
// "Current Details", the `__temporal_workflow_metadata` query) show the step, its attempt, the bytes of a
// transfer and the sysprep outcomes. Never secrets: only the tracker's own facts are written.
import { setCurrentDetails, type ActivityOptions } from '@temporalio/workflow';
import type { BuildProgress } from '../../src/contracts/messages.js';

/** The step the build is in; activities scheduled now are summarised with it. */
let currentStep = 'validate';

export function enterStep(step: string): void {
  currentStep = step;
}

type ProxyFunction = ((...args: unknown[]) => Promise<unknown>) & {
  executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<unknown>;
};

/** The proxy, each call of which carries the summary `<step>: <activity>`. */
export function withStepSummaries<T extends object>(proxy: T): T {
  return new Proxy(proxy, {
    get(target, name) {
      const fn = (target as Record<string | symbol, ProxyFunction>)[name];
      if (typeof name !== 'string' || typeof fn !== 'function') return fn;
      const summary = () => `${currentStep}: ${name}`;
      const call = (...args: unknown[]) => fn.executeWithOptions({ summary: summary() }, args);
      call.executeWithOptions = (options: ActivityOptions, args: unknown[]) =>
        fn.executeWithOptions({ summary: summary(), ...options }, args);
      return call;
    },
  });
}

function bar(done: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `\`${'█'.repeat(filled)}${'░'.repeat(width - filled)}\` ${(ratio * 100).toFixed(1)}% (${(done / 1048576).toFixed(1)} / ${(total / 1048576).toFixed(1)} MiB)`;
}

/** Markdown of where the build is: state, step and attempt, transfer progress, sysprep outcomes, warnings. */
export function renderDetails(p: BuildProgress): string {
  const lines = [`**${p.state}** — step **${p.step}**${p.attempt > 1 ? ` (attempt ${p.attempt})` : ''}`];
  if (p.waitingFor) lines.push('', `waiting for the operator: ${p.waitingFor}`);
  if (p.bytesTotal) lines.push('', bar(p.bytesDone ?? 0, p.bytesTotal));
  const sysprep = p.sysprepAttempts ?? [];
  if (sysprep.length > 0)
    lines.push(
      '',
      `sysprep: ${sysprep.map((a) => `#${a.attempt} ${a.outcome}${a.failureType ? ` (${a.failureType})` : ''}${a.remedy ? ` after ${a.remedy}` : ''}`).join(', ')}`,
    );
  const done = p.steps.filter((s) => s.status === 'done').length;
  lines.push('', `${done} of ${p.steps.length} steps done`);
  for (const w of p.warnings ?? []) lines.push('', `⚠ ${w}`);
  return lines.join('\n');
}

/** Shows the progress as the workflow's current details (cheap: a field of the workflow state, no command). */
export function showDetails(p: BuildProgress): void {
  setCurrentDetails(renderDetails(p));
}
