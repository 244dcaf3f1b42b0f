// Foreign formats through the qemu-img bridge: detected, converted into a temporary qcow2 that our reader
// reads, and the temporary file removed on close (and on failure). Local files and URLs.
import assert from 'node:assert/strict';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { openDisk } from '../../src/disk/openDisk.js';
import { createTapVhdStream } from '../../src/disk/tapVhdWriter.js';
import { tempDir } from '../helpers/tmp.js';
import { serveDir } from './httpServer.js';
import { MiB, assertTapVhd, qemuCompare, run } from './support.js';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

async function sourceRaw(dir: string): Promise<string> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(24 * MiB);
  await fh.write(Buffer.alloc(3 * MiB, 0x3c), 0, 3 * MiB, 5 * MiB);
  await fh.write(Buffer.from('end of disk'), 0, 11, 24 * MiB - 11);
  await fh.close();
  return raw;
}

test('vmdk (sparse, streamOptimized), vhdx and vdi convert through a temporary qcow2 that is removed', async (t) => {
  const dir = await tempDir(t);
  const raw = await sourceRaw(dir);
  const scratch = path.join(dir, 'scratch');
  await mkdir(scratch);
  const cases: Array<[string, string[], string]> = [
    ['disk.vmdk', ['-O', 'vmdk'], 'vmdk'],
    ['stream.vmdk', ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], 'vmdk'],
    ['disk.vhdx', ['-O', 'vhdx'], 'vhdx'],
    ['disk.vdi', ['-O', 'vdi'], 'vdi'],
  ];
  for (const [name, args, format] of cases) {
    const file = path.join(dir, name);
    await run('qemu-img', ['convert', ...args, raw, file]);
    const disk = await openDisk({ path: file }, { tempDir: scratch });
    assert.equal(disk.sourceFormat, format);
    assert.equal(disk.bridged, true);
    assert.equal((await readdir(scratch)).length, 1, 'one temporary dir while open');
    const out = path.join(dir, `${name}.vhd`);
    await pipeline(createTapVhdStream(disk.reader).stream, createWriteStream(out));
    await disk.close();
    assert.deepEqual(await readdir(scratch), [], `temporary file of ${name} removed`);
    assert.match(await qemuCompare(raw, out, 'raw'), /identical/, name);
    await assertTapVhd(out, disk.reader.virtualSize);
  }
});

test('a vmdk over HTTP is downloaded, converted, and both temporary files removed', async (t) => {
  const dir = await tempDir(t);
  const raw = await sourceRaw(dir);
  await run('qemu-img', ['convert', '-O', 'vmdk', raw, path.join(dir, 'web.vmdk')]);
  const scratch = path.join(dir, 'scratch');
  await mkdir(scratch);
  const server = await serveDir(dir);
  t.after(() => server.close());
  const disk = await openDisk({ url: server.url('web.vmdk') }, { tempDir: scratch });
  assert.equal(disk.sourceFormat, 'vmdk');
  const out = path.join(dir, 'web.vhd');
  await pipeline(createTapVhdStream(disk.reader).stream, createWriteStream(out));
  await disk.close();
  assert.deepEqual(await readdir(scratch), []);
  assert.match(await qemuCompare(raw, out, 'raw'), /identical/);
});

test('a vmdk descriptor naming other files, and a failing conversion, are refused and leave nothing behind', async (t) => {
  const dir = await tempDir(t);
  const raw = await sourceRaw(dir);
  const scratch = path.join(dir, 'scratch');
  await mkdir(scratch);
  // A descriptor whose extent is some other file of the host: qemu-img would happily read it.
  const descriptor = path.join(dir, 'evil.vmdk');
  await writeFile(
    descriptor,
    `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 49152 FLAT "${raw}" 0\n\nddb.virtualHWVersion = "4"\nddb.geometry.cylinders = "48"\nddb.geometry.heads = "16"\nddb.geometry.sectors = "63"\nddb.adapterType = "ide"\n`,
  );
  await assert.rejects(openDisk({ path: descriptor }, { tempDir: scratch }), {
    type: 'DiskFormatUnsupported',
    message: /other files/,
  });

  const broken = path.join(dir, 'broken.vhdx');
  await run('qemu-img', ['convert', '-O', 'vhdx', raw, broken]);
  const fh = await open(broken, 'r+');
  await fh.truncate(1 * MiB); // header intact, data and metadata regions gone
  await fh.close();
  await assert.rejects(openDisk({ path: broken }, { tempDir: scratch }), (err: Error & { type?: string }) => {
    assert.equal(err.type, 'DiskToolFailed');
    return true;
  });
  assert.deepEqual(await readdir(scratch), []);
});
