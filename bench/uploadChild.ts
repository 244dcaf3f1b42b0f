// Upload alone, for the recipe bench: a tarball file streamed into Glance by the same publish path the
// activities use (image created, body streamed with backpressure and hashed, the result checked against what
// was sent). `node dist/bench/uploadChild.js TGZ` with BENCH_CLOUDS, BENCH_CLOUD and BENCH_IMAGE.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { connectCloud } from '../src/openstack/index.js';
import { publishImage } from '../src/openstack/publish.js';
import { HashingStream } from '../src/pack/hashingStream.js';

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const [file] = process.argv.slice(2);
if (!file) throw new Error('usage: uploadChild.js TGZ');
const size = (await stat(file)).size;
const cloud = connectCloud(env('BENCH_CLOUD'), { file: env('BENCH_CLOUDS'), env: {} });
try {
  const result = await publishImage(
    cloud,
    { buildId: `bench-${process.pid}`, name: env('BENCH_IMAGE'), properties: { vm_mode: 'hvm' } },
    () => {
      const hasher = new HashingStream();
      const stream = createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(hasher);
      return {
        stream,
        result: hasher.digests.then((d) => ({ tgzBytes: d.bytes, md5: d.md5, sha512: d.sha512 })),
      };
    },
    { contentLength: size },
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await cloud.close();
}
