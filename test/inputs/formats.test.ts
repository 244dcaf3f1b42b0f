// Formats are proven: the header decides and a declared format or telling extension must agree; raw only when
// declared and in whole sectors; a vmdk is parsed before qemu-img opens it (extents beside it, regular files, no
// parent, no device, no protocol).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { openDisk } from '../../src/disk/openDisk.js';
import { parseVmdkDescriptor } from '../../src/disk/vmdkDescriptor.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
type Typed = Error & { type?: string; retryable?: boolean; details?: { reason?: string } };

async function refused(spec: { path: string; format?: string }, type: string, pattern?: RegExp, reason?: string) {
  await assert.rejects(openDisk(spec), (err: Typed) => {
    assert.equal(err.type, type, err.message);
    assert.equal(err.retryable, false);
    if (pattern) assert.match(err.message, pattern);
    if (reason) assert.equal(err.details?.reason, reason);
    return true;
  });
}

async function opens(spec: { path: string; format?: string }, format: string): Promise<void> {
  const disk = await openDisk(spec);
  try {
    assert.equal(disk.sourceFormat, format);
  } finally {
    await disk.close();
  }
}

test('random bytes named .qcow2, a qcow2 named .vhd or declared vmdk: refused; the header must agree', async (t) => {
  const dir = await tempDir(t);
  const random = path.join(dir, 'random.qcow2');
  await writeFile(random, randomBytes(64 * 1024));
  await refused({ path: random }, 'InputRefused', /says qcow2/, 'format mismatch');
  await refused({ path: random, format: 'qcow2' }, 'InputRefused', /no qcow2 header/, 'format mismatch');

  const qcow2 = path.join(dir, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '4M']);
  await opens({ path: qcow2 }, 'qcow2');
  const misnamed = path.join(dir, 'disk.vhd');
  await copyFile(qcow2, misnamed);
  await refused({ path: misnamed }, 'InputRefused', /its name \(\.vhd\) says vhd, but its header is qcow2/);
  await refused({ path: qcow2, format: 'vmdk' }, 'InputRefused', /declared format says vmdk/);
  await refused({ path: qcow2, format: 'raw' }, 'InputRefused', /says raw/);
  // Cloud images named .img are often qcow2: .img claims nothing, the header decides.
  const img = path.join(dir, 'cloud.img');
  await copyFile(qcow2, img);
  await opens({ path: img }, 'qcow2');
});

test('raw needs a declaration and whole sectors', async (t) => {
  const dir = await tempDir(t);
  const data = randomBytes(8 * 512);
  data.fill(0, 0, 512); // no header of any format
  const bare = path.join(dir, 'disk');
  await writeFile(bare, data);
  await refused({ path: bare }, 'InputRefused', /format "raw"/, 'raw not declared');
  await opens({ path: bare, format: 'raw' }, 'raw');
  for (const name of ['disk.raw', 'disk.img', 'disk.bin']) {
    await copyFile(bare, path.join(dir, name));
    await opens({ path: path.join(dir, name) }, 'raw');
  }
  const ragged = path.join(dir, 'ragged.raw');
  await writeFile(ragged, data.subarray(0, 1000));
  await refused({ path: ragged }, 'InputRefused', /whole number of 512-byte sectors/, 'raw not declared');
});

test('vmdk: extents beside the descriptor are converted; links, other folders, protocols and parents are refused', async (t) => {
  const dir = await tempDir(t);
  const flat = path.join(dir, 'disk-flat.vmdk');
  await writeFile(flat, Buffer.alloc(1024 * 1024, 0x5a));
  const descriptor = (extent: string, extra = '') =>
    `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n${extra}\nRW 2048 FLAT "${extent}" 0\n\nddb.virtualHWVersion = "4"\nddb.geometry.cylinders = "2"\nddb.geometry.heads = "16"\nddb.geometry.sectors = "63"\nddb.adapterType = "ide"\n`;
  const good = path.join(dir, 'good.vmdk');
  await writeFile(good, descriptor('disk-flat.vmdk'));
  await opens({ path: good }, 'vmdk');

  const cases: Array<[string, string, RegExp]> = [
    ['abs.vmdk', descriptor('/etc/passwd'), /other files/],
    ['up.vmdk', descriptor('../outside.raw'), /other files/],
    ['nbd.vmdk', descriptor('nbd:127.0.0.1:10809'), /other files/],
    ['missing.vmdk', descriptor('nothing-here.vmdk'), /not a regular file beside/],
    ['link.vmdk', descriptor('link-flat.vmdk'), /not a regular file beside/],
    ['fifo.vmdk', descriptor('fifo-flat.vmdk'), /not a regular file beside/],
    ['parent.vmdk', descriptor('disk-flat.vmdk', 'parentFileNameHint="base.vmdk"'), /has a parent/],
    ['rdm.vmdk', descriptor('disk-flat.vmdk').replace('FLAT', 'VMFSRDM'), /map a device/],
  ];
  await symlink('/etc/hostname', path.join(dir, 'link-flat.vmdk'));
  await run('mkfifo', [path.join(dir, 'fifo-flat.vmdk')]);
  for (const [name, text, pattern] of cases) {
    await writeFile(path.join(dir, name), text);
    await refused({ path: path.join(dir, name) }, 'DiskFormatUnsupported', pattern);
  }
});

test('the vmdk descriptor parser reads extents and refuses what it cannot read', () => {
  const d = parseVmdkDescriptor(
    '# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType="twoGbMaxExtentSparse"\nRW 4192256 SPARSE "a-s001.vmdk"\nRW 100 ZERO\nRDONLY 8 FLAT "f.vmdk" 16\n',
  );
  assert.equal(d.createType, 'twoGbMaxExtentSparse');
  assert.deepEqual(d.extents, [
    { access: 'RW', sectors: 4192256, type: 'SPARSE', file: 'a-s001.vmdk', offset: 0 },
    { access: 'RW', sectors: 100, type: 'ZERO', offset: 0 },
    { access: 'RDONLY', sectors: 8, type: 'FLAT', file: 'f.vmdk', offset: 16 },
  ]);
  for (const text of ['createType="x"\n', 'RW 1 FLAT "a"\n', 'createType="x"\nRW 1 FLAT "a"\n<html>\n']) {
    assert.throws(() => parseVmdkDescriptor(text), { type: 'DiskCorrupt' });
  }
  assert.throws(() => parseVmdkDescriptor(`createType="x"\nRW 99999999999999999999 FLAT "a"\n`), {
    type: 'DiskCorrupt',
  });
});
