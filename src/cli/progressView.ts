// Live view of a running build: polls the `progress` query and redraws (TTY) or prints changes (pipes/logs).
import type { WorkflowHandle } from '@temporalio/client';
import { PROGRESS_QUERY, type BuildProgress } from '../contracts/messages.js';

function bar(done: number, total: number, width = 30): string {
  const filled = Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((done / total) * 100).toFixed(1)}%`;
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export function renderProgress(p: BuildProgress): string {
  const bytes = p.bytesTotal
    ? `  ${bar(p.bytesDone ?? 0, p.bytesTotal)} ${mib(p.bytesDone ?? 0)} / ${mib(p.bytesTotal)}`
    : '';
  const waiting = p.waitingFor ? `  waiting for: ${p.waitingFor}` : '';
  return `${p.state.padEnd(17)} ${p.step}${p.attempt > 1 ? ` (attempt ${p.attempt})` : ''}${bytes}${waiting}`;
}

/** Follows a build until it closes; returns its result (or throws its failure). */
export async function followBuild<T>(handle: WorkflowHandle, out: NodeJS.WriteStream = process.stderr): Promise<T> {
  let last = '';
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      try {
        const p = await handle.query<BuildProgress>(PROGRESS_QUERY);
        const line = renderProgress(p);
        if (line !== last) {
          if (out.isTTY) out.write(`\r\x1b[2K${line}`);
          else out.write(`${line}\n`);
          last = line;
        }
      } catch {
        // closed, or no worker yet: the result below decides
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  try {
    return (await handle.result()) as T;
  } finally {
    stop = true;
    await poll;
    if (out.isTTY && last) out.write('\n');
  }
}
