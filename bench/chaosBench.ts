// `npm run chaos`: 20 builds of mixed kinds (Windows, existing VM, conversion) while the worker is SIGKILLed every
// 20–40 s and replaced, alternately, by a worker of "another machine" (its own state folder and its own copy of the
// configured secrets only), plus one restart of the Temporal dev server and one of the XAPI lab. Reports active
// images, duplicates in Glance, tagged objects left in the pool and generated secrets left anywhere.
//
//   XENIMAGE_CHAOS_BUILDS=20 XENIMAGE_CHAOS_SPEED=0.05 npm run chaos
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { buildIdentity } from '../src/contracts/buildIdentity.js';
import { buildTag, connectCloud } from '../src/openstack/index.js';
import { XapiConnection } from '../src/xapi/connection.js';
import { BUILD_TAG } from '../src/xapi/tags.js';
import { startBenchLab, windowsInput, type Machine, type WorkerProc } from './buildLab.js';
import { makeQcow2, MiB } from './fixtures.js';

const builds = Number(process.env.XENIMAGE_CHAOS_BUILDS ?? 20);
const speed = Number(process.env.XENIMAGE_CHAOS_SPEED ?? 0.05);
const deadlineMs = Number(process.env.XENIMAGE_CHAOS_DEADLINE_S ?? 2400) * 1000;
const log = (msg: string, extra: object = {}) =>
  console.log(JSON.stringify({ t: new Date().toISOString().slice(11, 19), msg, ...extra }));

const lab = await startBenchLab({ speed, scenario: 'existing-vms' });
const other = await lab.machine('other');
const source = path.join(lab.dir, 'chaos-source.qcow2');
await makeQcow2(path.join(lab.dir, 'chaos-source.raw'), source, 256 * MiB, 8, 2 * MiB, true);
const tuning = { retryInitialInterval: '2s', maxRetryInterval: '20s', heartbeatTimeout: '30s' };

let worker: WorkerProc = lab.startWorker(lab.home);
await worker.ready;

// The mix: most builds are Windows (the longest, with generated secrets), two existing VMs, the rest conversions.
const ids: string[] = [];
const kinds: string[] = [];
for (let i = 0; i < builds; i++) {
  const id = `chaos-${i}-${randomUUID().slice(0, 8)}`;
  let kind: string;
  let args: unknown;
  if (i === 3 || i === 11) {
    const vm = i === 3 ? 'debian-pv' : 'legacy-hvm';
    kind = 'vmImage';
    args = {
      pool: lab.pool,
      vm: { name: vm },
      image: { name: id },
      osType: 'linux',
      cloud: lab.openstack.cloud,
      shutdown: { timeout: '2m', allowHard: true },
      tuning,
    };
  } else if (i % 5 === 4) {
    kind = 'convertImage';
    args = { source: { path: source }, vmMode: 'hvm', image: { name: id }, cloud: lab.openstack.cloud, tuning };
  } else {
    kind = 'windowsImage';
    args = windowsInput(lab, id);
  }
  await lab.client.workflow.start(kind, { taskQueue: lab.taskQueue, workflowId: id, args: [args] });
  ids.push(id);
  kinds.push(kind);
}
log('started', {
  builds,
  kinds: Object.fromEntries(
    ['windowsImage', 'vmImage', 'convertImage'].map((k) => [k, kinds.filter((x) => x === k).length]),
  ),
});

async function openBuilds(): Promise<number> {
  let open = 0;
  for (const id of ids) {
    const d = await lab.client.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (!d || d.status.name === 'RUNNING') open += 1;
  }
  return open;
}

const started = Date.now();
let kills = 0;
let temporalRestarted = false;
let xapiRestarted = false;
const machines: Machine[] = [other, lab.home];
while (Date.now() - started < deadlineMs) {
  const wait = 20_000 + Math.floor(Math.random() * 20_000);
  await new Promise((r) => setTimeout(r, wait));
  const open = await openBuilds();
  if (open === 0) break;
  await worker.kill('SIGKILL');
  kills += 1;
  if (kills === 2 && !temporalRestarted) {
    await lab.restartTemporal();
    temporalRestarted = true;
    log('restarted the Temporal dev server');
  }
  if (kills === 4 && !xapiRestarted) {
    await lab.restartXapi();
    xapiRestarted = true;
    log('restarted the XAPI lab');
  }
  const machine = machines[kills % 2]!;
  worker = lab.startWorker(machine);
  await worker.ready;
  log('killed and replaced the worker', { kills, machine: machine.name, open });
}
// Every build closed (or the deadline): let the last worker finish cleanups, then look at what is left.
const remaining = await openBuilds();
const outcomes = await Promise.all(
  ids.map(async (id) => {
    const handle = lab.client.workflow.getHandle(id);
    const d = await handle.describe();
    const first = (await handle.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
    return { id, status: d.status.name, identity: buildIdentity(id, first?.firstExecutionRunId ?? d.runId) };
  }),
);
await worker.kill('SIGTERM');

const cloud = connectCloud(lab.openstack.cloud, { file: lab.openstack.cloudsFile, env: {} });
let activeImages = 0;
let duplicates = 0;
for (const o of outcomes) {
  const images = await cloud.glance.listImages({ tag: buildTag(o.identity) });
  activeImages += images.filter((i) => i.status === 'active').length > 0 ? 1 : 0;
  duplicates += Math.max(0, images.length - 1);
}
await cloud.close();
const conn = await XapiConnection.open({
  pool: lab.pool,
  url: lab.xapi.url,
  username: lab.xapi.username,
  password: lab.xapi.password,
});
await conn.barrier();
const tagged = [...conn.all('VM'), ...conn.all('VDI')].filter((o) => o.other_config[BUILD_TAG] !== undefined).length;
await conn.close();
const report = {
  builds,
  speed,
  succeeded: outcomes.filter((o) => o.status === 'COMPLETED').length,
  notSucceeded: outcomes.filter((o) => o.status !== 'COMPLETED').map((o) => `${o.id}: ${o.status}`),
  stillOpen: remaining,
  wallS: Math.round((Date.now() - started) / 1000),
  kills,
  temporalRestarted,
  xapiRestarted,
  activeImages,
  duplicatesInGlance: duplicates,
  taggedObjectsLeftInPool: tagged,
  generatedSecretsLeft: await lab.leftoverSecrets(),
};
console.log(JSON.stringify(report));
await lab.stop();
process.exit(0);
