// The sample builds `xenimage up` runs on the embedded lab, so a fresh checkout shows the whole path working.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { errorMessage } from '../errors.js';
import type { Lab } from '../lab/index.js';
import type { CliContext } from './context.js';

export interface SampleOutcome {
  name: string;
  ok: boolean;
  workflowId: string;
  summary: string;
}

interface SampleArgs {
  ctx: CliContext;
  client: Client;
  lab: Lab;
}

async function runOne(name: string, workflowId: string, run: () => Promise<string>): Promise<SampleOutcome> {
  try {
    return { name, ok: true, workflowId, summary: await run() };
  } catch (err) {
    return { name, ok: false, workflowId, summary: `${workflowId}: ${errorMessage(err)}` };
  }
}

const run = promisify(execFile);

/** A small qcow2 with data in a few places (made once with qemu-img and qemu-io). */
async function sampleQcow2(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'samples', 'sample-linux.qcow2');
  try {
    await access(file);
    return file;
  } catch {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.partial`;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', tmp, '1G']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 0 4M', '-c', 'write -P 0x17 512M 2M', '-c', 'write -P 0x99 1020M 1M', tmp]);
    await run('mv', [tmp, file]);
    return file;
  }
}

export async function runSamples({ ctx, client, lab }: SampleArgs): Promise<SampleOutcome[]> {
  const taskQueue = ctx.config.temporal.taskQueue;
  const suffix = randomUUID().slice(0, 8);
  const outcomes: SampleOutcome[] = [];
  const selfCheckId = `sample-self-check-${suffix}`;
  outcomes.push(
    await runOne('self-check', selfCheckId, async () => {
      const report = await client.workflow.execute('selfCheck', { taskQueue, workflowId: selfCheckId, args: [] });
      const missing = Object.entries(report.tools).filter(([, v]) => v === null).map(([k]) => k);
      return missing.length ? `worker host lacks ${missing.join(', ')}` : `worker ${report.hostname}: all tools found`;
    }),
  );
  const convertId = `sample-convert-${suffix}`;
  outcomes.push(
    await runOne('convert', convertId, async () => {
      const source = await sampleQcow2(ctx.stateDir);
      const result = await client.workflow.execute('convertImage', {
        taskQueue,
        workflowId: convertId,
        args: [{ source: { path: source }, image: { name: 'xenimage-sample-linux', properties: { os_distro: 'sample' } }, vmMode: 'xen', osType: 'linux', cloud: lab.ready.cloud }],
      });
      return `Glance image ${result.imageId} (${result.format} → ${result.tgzBytes} bytes tarball, verified)`;
    }),
  );
  return outcomes;
}
