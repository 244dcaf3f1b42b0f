// `npm run bench:scale`: N concurrent Windows builds on one `xenimage worker` process against the lab, at lab
// speeds where Windows Setup and sysprep each take at least 60 s, so the waits overlap. Reports N/N images, wall
// time, the worker's peak RSS, XAPI calls and history events per build; a second run with other wait lengths shows
// whether calls and events grow with how long a wait lasts (docs/decisions/builds-0003-pool-load-and-waits.md).
//
//   XENIMAGE_SCALE_N=50 XENIMAGE_SCALE_SPEEDS=1,0.25 npm run bench:scale
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { BuildProgress, StepRecord } from '../src/contracts/messages.js';
import { connectCloud } from '../src/openstack/index.js';
import { startBenchLab, windowsInput } from './buildLab.js';

const MiB = 1024 * 1024;

interface RunReport {
  speed: number;
  builds: number;
  succeeded: number;
  activeImages: number;
  wallS: number;
  workerPeakRssMiB: number;
  installS: { min: number; mean: number };
  sysprepS: { min: number; mean: number };
  xapiCallsPerBuild: number;
  eventFromCallsPerBuild: number;
  historyEventsPerBuild: { min: number; mean: number; max: number };
  failures: string[];
}

function seconds(s: StepRecord): number {
  return s.startedAt && s.endedAt ? (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000 : NaN;
}

function stats(xs: number[]): { min: number; mean: number; max: number } {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (!ok.length) return { min: NaN, mean: NaN, max: NaN };
  const r = (x: number) => Math.round(x * 10) / 10;
  return { min: r(Math.min(...ok)), mean: r(ok.reduce((a, b) => a + b, 0) / ok.length), max: r(Math.max(...ok)) };
}

async function run(speed: number, n: number): Promise<RunReport> {
  const lab = await startBenchLab({ speed, scenario: 'default' });
  try {
    const worker = lab.startWorker(lab.home);
    await worker.ready;
    const before = lab.xapi.calls();
    const started = Date.now();
    const handles: WorkflowHandle[] = [];
    for (let i = 0; i < n; i++) {
      handles.push(
        await lab.client.workflow.start('windowsImage', {
          taskQueue: lab.taskQueue,
          workflowId: `scale-${i}-${randomUUID().slice(0, 8)}`,
          args: [windowsInput(lab, `scale-${i}`)],
        }),
      );
    }
    const results = await Promise.allSettled(handles.map((h) => h.result() as Promise<{ imageId: string }>));
    const wallS = Math.round((Date.now() - started) / 100) / 10;
    const peak = await worker.peakRss();
    const after = lab.xapi.calls();
    const calls = Object.entries(after).map(([m, c]) => [m, c - (before[m] ?? 0)] as const);
    const eventFrom = calls.filter(([m]) => m === 'event.from').reduce((a, [, c]) => a + c, 0);
    const total = calls.reduce((a, [, c]) => a + c, 0);
    const progress = await Promise.all(handles.map((h) => h.query<BuildProgress>('progress').catch(() => undefined)));
    const events = await Promise.all(handles.map(async (h) => (await h.fetchHistory()).events?.length ?? 0));
    const steps = progress.flatMap((p) => p?.steps ?? []);
    const cloud = connectCloud(lab.openstack.cloud, { file: lab.openstack.cloudsFile, env: {} });
    let activeImages = 0;
    try {
      for (const r of results)
        if (r.status === 'fulfilled' && (await cloud.glance.getImage(r.value.imageId)).status === 'active')
          activeImages += 1;
    } finally {
      await cloud.close();
    }
    await worker.kill('SIGTERM');
    const install = stats(steps.filter((s) => s.step === 'install Windows').map(seconds));
    const sysprep = stats(steps.filter((s) => s.step === 'sysprep').map(seconds));
    return {
      speed,
      builds: n,
      succeeded: results.filter((r) => r.status === 'fulfilled').length,
      activeImages,
      wallS,
      workerPeakRssMiB: Math.round(peak / MiB),
      installS: { min: install.min, mean: install.mean },
      sysprepS: { min: sysprep.min, mean: sysprep.mean },
      xapiCallsPerBuild: Math.round(((total - eventFrom) / n) * 10) / 10,
      eventFromCallsPerBuild: Math.round((eventFrom / n) * 10) / 10,
      historyEventsPerBuild: stats(events),
      failures: results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : [])),
    };
  } finally {
    await lab.stop();
  }
}

const n = Number(process.env.XENIMAGE_SCALE_N ?? 50);
const speeds = (process.env.XENIMAGE_SCALE_SPEEDS ?? '1,0.25').split(',').map(Number);
const reports: RunReport[] = [];
for (const speed of speeds) {
  const report = await run(speed, n);
  reports.push(report);
  console.log(JSON.stringify(report));
}
console.log(
  [
    '| lab speed | builds | images active | wall time | worker peak RSS | install (min/mean) | sysprep (min/mean) | XAPI calls / build (+ event.from) | history events / build (min/mean/max) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...reports.map(
      (r) =>
        `| ${r.speed} | ${r.builds} | ${r.activeImages}/${r.builds} | ${r.wallS} s | ${r.workerPeakRssMiB} MiB | ${r.installS.min} / ${r.installS.mean} s | ${r.sysprepS.min} / ${r.sysprepS.mean} s | ${r.xapiCallsPerBuild} (+ ${r.eventFromCallsPerBuild}) | ${r.historyEventsPerBuild.min} / ${r.historyEventsPerBuild.mean} / ${r.historyEventsPerBuild.max} |`,
    ),
  ].join('\n'),
);
process.exit(0);
