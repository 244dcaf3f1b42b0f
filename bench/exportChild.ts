// exportToGlance's data path in its own process, for the recipe bench: XAPI `export_raw_vdi?format=vhd` → tap VHD
// → tar `0.vhd` → gzip → Glance, one pass, no file on disk (activities/image.ts composes the same modules inside a
// Temporal activity). `node dist/bench/exportChild.js` with BENCH_XAPI (JSON: url, username, password, pool),
// BENCH_VDI, BENCH_CLOUDS (a clouds.yaml), BENCH_CLOUD and BENCH_IMAGE (the image name); prints the result.
import { PassThrough, pipeline } from 'node:stream';
import { connectCloud } from '../src/openstack/index.js';
import { publishImage } from '../src/openstack/publish.js';
import { packVhdStream } from '../src/pack/pipeline.js';
import { XapiConnection, type ConnectionTarget } from '../src/xapi/connection.js';

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const target = JSON.parse(env('BENCH_XAPI')) as ConnectionTarget;
const conn = await XapiConnection.open(target);
const cloud = connectCloud(env('BENCH_CLOUD'), { file: env('BENCH_CLOUDS'), env: {} });
try {
  const result = await publishImage(
    cloud,
    { buildId: `bench-${process.pid}`, name: env('BENCH_IMAGE'), properties: { vm_mode: 'hvm' } },
    () => {
      const packed = (async () => {
        const exported = await conn.exportVdi(env('BENCH_VDI'), 'vhd');
        exported.task.catch(() => undefined); // its failure reaches the stream as an early end
        return packVhdStream(exported.stream, { level: 6 });
      })();
      const stream = new PassThrough();
      packed.then(
        (p) => pipeline(p.stream, stream, () => undefined),
        (err: unknown) => stream.destroy(err as Error),
      );
      return {
        stream,
        result: packed.then(async (p) => {
          const r = await p.result;
          return { tgzBytes: r.tgzBytes, md5: r.md5, sha512: r.sha512 };
        }),
      };
    },
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await cloud.close();
  await conn.close();
}
