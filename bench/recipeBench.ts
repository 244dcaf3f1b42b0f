// The whole path against the manual recipe it replaces, on the lab: a XAPI lab VDI (4 GiB, random data) and the
// lab's real Keystone + Glance. The recipe: download `export_raw_vdi?format=vhd` to a file with curl, `tar czf`
// it as `0.vhd`, `openstack image create --file`. Ours: exportToGlance's path (bench/exportChild.ts) — export →
// tap VHD → tar → gzip → Glance in one pass. Then upload alone: the same tarball through our publish path
// against `openstack image create --file`. Whole processes taking turns; images deleted between runs (untimed).
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createClient } from 'xen-api';
import { LAB_CLOUD, startOpenStack } from '../src/lab/openstack/index.js';
import { startXapiLab } from '../src/lab/xapi/index.js';
import { log as rootLog } from '../src/log.js';
import { connectCloud } from '../src/openstack/index.js';
import { GiB, MiB, sh } from './fixtures.js';
import { alternate, type ProcCase } from './proc.js';
import { loadNow, speedRatio, type CaseResult, type GroupResult } from './results.js';
import { summarize } from './stats.js';

export interface RecipeBenchOptions {
  dir: string;
  distDir: string;
  runs: number;
  dataMiB: number;
  log: (line: string) => void;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export async function recipeGroup(o: RecipeBenchOptions): Promise<GroupResult[]> {
  const stateDir = path.join(o.dir, 'lab');
  await mkdir(stateDir, { recursive: true });
  const quiet = rootLog().child({ component: 'bench' });
  quiet.level = 'warn';
  const lab = await startXapiLab({
    stateDir,
    speed: 0.01,
    log: quiet,
    poolsFile: path.join(stateDir, 'pools.yaml'),
    secretsDir: path.join(stateDir, 'secrets'),
  });
  const stops: Array<() => Promise<unknown>> = [() => lab.stop()];
  try {
    const openstack = await startOpenStack({ stateDir: path.join(stateDir, 'os'), log: quiet });
    stops.unshift(() => openstack.stop());
    const xapi = createClient({ url: lab.url, auth: { user: lab.username, password: lab.password } });
    await xapi.connect();
    stops.unshift(() => xapi.disconnect());
    const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
    const vdi = await xapi.call<string>('VDI.create', {
      SR: sr,
      virtual_size: 4 * GiB,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
      name_label: 'bench disk',
    });
    // The same layout as the conversion fixture: 4 MiB extents of random data spread over the disk.
    const extents = Math.max(1, Math.round(o.dataMiB / 4));
    const stride = Math.floor((4 * GiB) / extents / MiB) * MiB;
    for (let i = 0; i < extents; i++) {
      await lab.host.writeDisk(vdi, i * stride, randomBytes(4 * MiB));
    }
    const cloud = connectCloud(LAB_CLOUD, { file: openstack.cloudsFile, env: {} });
    stops.unshift(() => cloud.close());
    const deleteImages = async () => {
      for (const image of await cloud.glance.listImages({})) await cloud.glance.deleteImage(image.id);
    };
    const exportUrl = `${lab.url}/export_raw_vdi?vdi=${encodeURIComponent(vdi)}&format=vhd&session_id=${encodeURIComponent(xapi.sessionId)}`;
    const work = path.join(o.dir, 'recipe');
    const osEnv = { OS_CLIENT_CONFIG_FILE: openstack.cloudsFile, OS_CLOUD: LAB_CLOUD };
    const benchEnv = {
      BENCH_XAPI: JSON.stringify({ pool: lab.poolName, url: lab.url, username: lab.username, password: lab.password }),
      BENCH_VDI: vdi,
      BENCH_CLOUDS: openstack.cloudsFile,
      BENCH_CLOUD: LAB_CLOUD,
      BENCH_IMAGE: 'bench-ours',
    };
    let recipeTempBytes = 0;
    const recipe: ProcCase = {
      name: 'recipe: curl export → tar czf → openstack image create --file',
      argv: [
        'sh',
        '-c',
        `cd ${quote(work)} && curl -sSf -o 0.vhd ${quote(exportUrl)} && tar czf image.tgz 0.vhd && ` +
          `openstack image create --disk-format vhd --container-format ovf --file image.tgz bench-recipe -f value -c id`,
      ],
      env: osEnv,
      before: async () => {
        await rm(work, { recursive: true, force: true });
        await mkdir(work, { recursive: true });
      },
      after: async () => {
        // What the recipe left on disk at its end: the VHD export and the tarball, both needed until the upload.
        let bytes = 0;
        for (const f of await readdir(work)) bytes += (await stat(path.join(work, f))).size;
        recipeTempBytes = Math.max(recipeTempBytes, bytes);
        await deleteImages();
      },
    };
    const oursWork = path.join(o.dir, 'ours');
    let oursTempBytes = 0;
    const ours: ProcCase = {
      name: 'xenimage: export → tap VHD → tar → gzip → Glance, streamed',
      argv: [
        'sh',
        '-c',
        `cd ${quote(oursWork)} && exec ${quote(process.execPath)} ${quote(path.join(o.distDir, 'bench/exportChild.js'))}`,
      ],
      env: { ...benchEnv, TMPDIR: oursWork },
      before: async () => {
        await rm(oursWork, { recursive: true, force: true });
        await mkdir(oursWork, { recursive: true });
      },
      after: async () => {
        for (const f of await readdir(oursWork)) oursTempBytes += (await stat(path.join(oursWork, f))).size;
        await deleteImages();
      },
    };
    await deleteImages();
    const load = { before: loadNow(), after: [] as number[] };
    const whole = await alternate([ours, recipe], {
      runs: o.runs,
      warmup: 0,
      between: () => sh('sync'),
      onRun: (name, r) =>
        o.log(`  ${name}: ${r.wallS.toFixed(1)} s wall, ${r.cpuS.toFixed(1)} s cpu, ${r.peakMiB.toFixed(0)} MiB`),
    });
    load.after = loadNow();

    // Upload alone: one tarball (the recipe's), sent by each side.
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    await sh(`cd ${quote(work)} && curl -sSf -o 0.vhd ${quote(exportUrl)} && tar czf image.tgz 0.vhd && rm 0.vhd`);
    const tgz = path.join(work, 'image.tgz');
    const tgzBytes = (await stat(tgz)).size;
    const uploadLoad = { before: loadNow(), after: [] as number[] };
    const uploads = await alternate(
      [
        {
          name: 'xenimage upload (publish path, Content-Length)',
          argv: [process.execPath, path.join(o.distDir, 'bench/uploadChild.js'), tgz],
          env: benchEnv,
          after: deleteImages,
        },
        {
          name: 'openstack image create --file',
          argv: [
            'openstack',
            'image',
            'create',
            '--disk-format',
            'vhd',
            '--container-format',
            'ovf',
            '--file',
            tgz,
            'bench-cli',
          ],
          env: osEnv,
          after: deleteImages,
        },
      ],
      {
        runs: o.runs,
        warmup: 0,
        between: () => sh('sync'),
        onRun: (name, r) => o.log(`  ${name}: ${r.wallS.toFixed(1)} s wall, ${r.peakMiB.toFixed(0)} MiB`),
      },
    );
    uploadLoad.after = loadNow();

    const wholeCases: CaseResult[] = [
      { name: ours.name, ours: true, runs: whole.get(ours.name)! },
      { name: recipe.name, ours: false, runs: whole.get(recipe.name)! },
    ];
    const uploadCases: CaseResult[] = [...uploads].map(([name, runs]) => ({
      name,
      ours: name.startsWith('xenimage'),
      runs,
    }));
    const peakOf = (c: CaseResult) => summarize(c.runs.map((r) => r.peakMiB));
    return [
      {
        id: 'recipe',
        title: 'A lab VDI into Glance: the manual recipe against the streaming path',
        description:
          `A 4 GiB VDI of the XAPI lab holding ${o.dataMiB} MiB of random data (incompressible: the worst case for ` +
          "gzip), into the lab's real Glance (Keystone + Glance from Debian packages, file store). The recipe " +
          'downloads the VHD export with curl, packs it with `tar czf` as `0.vhd` and uploads it with ' +
          "`openstack image create --file` (python3-openstackclient); ours is exportToGlance's path in one " +
          'process. The lab serves both from the bench process. The recipe is handed a XAPI session made beforehand ' +
          "(untimed); ours logs in and fetches the pool's records inside its timed run, as a worker does once. " +
          'Each image is deleted between runs (untimed).',
        cases: wholeCases,
        ratios: [speedRatio('wall: recipe / xenimage', wholeCases[0]!, wholeCases[1]!, 2.0)],
        facts: [
          ['temporary bytes on disk, recipe (the export and the tarball)', `${(recipeTempBytes / MiB).toFixed(0)} MiB`],
          [
            'temporary bytes on disk, xenimage (files left in its working and temporary folder)',
            `${(oursTempBytes / MiB).toFixed(0)} MiB`,
          ],
          [
            'peak RSS, recipe (largest process: the openstack client)',
            `${peakOf(wholeCases[1]!).median.toFixed(0)} MiB`,
          ],
          ['peak RSS, xenimage', `${peakOf(wholeCases[0]!).median.toFixed(0)} MiB`],
        ],
        load,
      },
      {
        id: 'upload',
        title: 'Upload alone: one tarball into Glance',
        description:
          `The recipe's tarball (${(tgzBytes / MiB).toFixed(0)} MiB) sent by our publish path (bench/uploadChild.ts: ` +
          'image created, body streamed and hashed, the stored image checked against what was sent) and by ' +
          '`openstack image create --file`. Images deleted between runs (untimed).',
        cases: uploadCases,
        ratios: [speedRatio('wall: openstack image create / xenimage upload', uploadCases[0]!, uploadCases[1]!, 1.0)],
        load: uploadLoad,
      },
    ];
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
  }
}
