// qemu-img runs with a minimal environment: no secret variable of the worker reaches it, and every call names
// the format with -f. A stand-in qemu-img records what it was given.
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/tmp.js';

test('qemu-img gets PATH and a locale only, and -f on every call', async (t) => {
  const dir = await tempDir(t);
  const record = path.join(dir, 'record');
  const fake = path.join(dir, 'qemu-img');
  await writeFile(
    fake,
    `#!/bin/sh\nenv > ${record}.env\necho "$@" > ${record}.args\necho '{"format":"vmdk","virtual-size":1048576}'\n`,
  );
  await chmod(fake, 0o755);
  process.env.XENIMAGE_QEMU_IMG = fake;
  process.env.XENIMAGE_SECRET_XAPI_POOL = 'hunter2-pool-password';
  process.env.OS_PASSWORD = 'hunter2-cloud-password';
  t.after(() => {
    delete process.env.XENIMAGE_QEMU_IMG;
    delete process.env.XENIMAGE_SECRET_XAPI_POOL;
    delete process.env.OS_PASSWORD;
  });
  const { qemuImgInfo } = await import('../../src/disk/qemuImg.js');
  const info = await qemuImgInfo(path.join(dir, 'disk.vmdk'), 'vmdk');
  assert.equal(info.format, 'vmdk');
  const env = await readFile(`${record}.env`, 'utf8');
  assert.doesNotMatch(env, /hunter2|XENIMAGE_|OS_PASSWORD/);
  const names = env
    .trim()
    .split('\n')
    .map((l) => l.split('=')[0])
    .filter((n) => n !== 'PWD' && n !== 'SHLVL' && n !== '_'); // the shell's own
  assert.deepEqual(names.sort(), ['LC_ALL', 'PATH']);
  assert.match(await readFile(`${record}.args`, 'utf8'), /^info --output=json -f vmdk \//);
});
