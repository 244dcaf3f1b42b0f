// `npm run bench:scale`: N concurrent Windows builds on one `xenimage worker` process against the lab, at lab
// speeds where Windows Setup and sysprep each take at least 60 s, so the waits overlap. Reports N/N images, wall
// time, the worker's peak RSS, XAPI calls and history events per build; a second run with other wait lengths shows
// whether calls and events grow with how long a wait lasts (docs/decisions/builds-0003-pool-load-and-waits.md).
//
//   XENIMAGE_SCALE_RUNS=0.3:50,0.6:50 npm run bench:scale   (lab speed:builds, one run each)
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
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

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

function eventMs(e: HistoryEvent | undefined): number {
  const t = e?.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;
}

/** Seconds from the first scheduling of `activity` to its completion, from a build's history. */
function activitySeconds(events: HistoryEvent[], activity: string): number {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity);
  if (!scheduled) return NaN;
  const completed = events.find(
    (e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId),
  );
  return (eventMs(completed) - eventMs(scheduled)) / 1000;
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
    const histories = await Promise.all(handles.map(async (h) => (await h.fetchHistory()).events ?? []));
    const events = histories.map((h) => h.length);
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
    // The waits: Windows Setup up to the guest agent, and the sysprep run (first attempt).
    const install = stats(histories.map((h) => activitySeconds(h, 'waitForGuest')));
    const sysprep = stats(histories.map((h) => activitySeconds(h, 'runSysprep')));
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

// Runs: "speed:builds" pairs, e.g. 0.3:50,0.6:10 (the lab's latency factor: 0.3 makes Setup about 4 min and
// sysprep about 65 s).
const runs = (process.env.XENIMAGE_SCALE_RUNS ?? '0.3:50,0.6:50').split(',').map((r) => r.split(':').map(Number));
const reports: RunReport[] = [];
for (const [speed, n] of runs) {
  const report = await run(speed!, n!);
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
