// The lab's own VHD code (src/lab/xapi/storage/vhd.ts, written from the VHD specification) checked by readers
// written by others: vhdiinfo (libvhdi) and qemu-img read its exports as the disk's exact bytes; blocks that read
// as zeros are left out of an export; the CHS geometry follows the specification's appendix; the import refuses a
// footer whose checksum is wrong. And the lab shares no code with the engine's codecs, with no import circle.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { type IncomingMessage, request } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Xapi } from 'xen-api';
import { contentBytes } from '../../../src/lab/scenarios/content.js';
import type { XapiLab } from '../../../src/lab/xapi/index.js';
import { checksum, chsGeometry } from '../../../src/lab/xapi/storage/vhd.js';
import { labClient, startTestLab } from '../../helpers/xapiLab.js';
import { tempDir } from '../../helpers/tmp.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const BLOCK = 2 * MiB;

function get(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function exportTo(lab: XapiLab, xapi: Xapi, vdi: string, format: 'raw' | 'vhd', file: string): Promise<void> {
  const res = await get(
    `${lab.url}/export_raw_vdi?vdi=${encodeURIComponent(vdi)}&format=${format}&session_id=${encodeURIComponent(xapi.sessionId)}`,
  );
  assert.equal(res.statusCode, 200);
  await pipeline(res, createWriteStream(file));
}

async function newVdi(xapi: Xapi, sizeMiB: number): Promise<string> {
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  return xapi.call<string>('VDI.create', {
    SR: sr,
    virtual_size: sizeMiB * MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'vhd test',
  });
}

/** qemu-img reads the footer's current size exactly (it sizes unknown creators by CHS otherwise). */
const exact = (vhd: string) =>
  `json:${JSON.stringify({ driver: 'vpc', force_size_calc: 'current_size', file: { driver: 'file', filename: vhd } })}`;

test('CHS geometry and checksums follow the VHD specification', () => {
  // Appendix "CHS Calculation": floors, 17/31/63/255 sectors per track by size; the maximum is pinned. 1 GiB is
  // 2080/16/63 as blktap writes it; 40 MiB is the 41,909,760 bytes qemu-img reads a 40 MiB XAPI export as.
  assert.deepEqual(chsGeometry(2 ** 30), { cylinders: 2080, heads: 16, sectorsPerTrack: 63 });
  assert.deepEqual(chsGeometry(40 * MiB), { cylinders: 963, heads: 5, sectorsPerTrack: 17 });
  assert.equal(963 * 5 * 17 * 512, 41_909_760);
  assert.deepEqual(chsGeometry(200 * MiB), { cylinders: 825, heads: 16, sectorsPerTrack: 31 });
  assert.deepEqual(chsGeometry(2 ** 40), { cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  for (const size of [MiB, 40 * MiB, 200 * MiB, 2 ** 30, 127 * 2 ** 30]) {
    const g = chsGeometry(size);
    assert.ok(g.cylinders * g.heads * g.sectorsPerTrack * 512 <= size, `${size}: the geometry never exceeds the size`);
    assert.ok(g.heads <= 16 && g.sectorsPerTrack <= 255 && g.cylinders <= 65535);
  }
  // "one's complement of the sum of all the bytes … without the checksum field"
  const b = Buffer.alloc(512, 1);
  b.writeUInt32BE(0xdeadbeef, 64);
  assert.equal(checksum(b, 64), ~(508 * 1) >>> 0);
});

test('VHD exports read back byte for byte in vhdiinfo and qemu-img; blocks of zeros are left out', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const dir = await tempDir(t);
  const vdi = await newVdi(xapi, 40);
  const a = contentBytes({ offsetMiB: 0, lengthMiB: 1, seed: 'vhd a' });
  const b = contentBytes({ offsetMiB: 0, lengthMiB: 2, seed: 'vhd b' });
  await lab.host.writeDisk(vdi, 512, a); // block 0
  await lab.host.writeDisk(vdi, 5 * BLOCK, b); // block 5
  await lab.host.writeDisk(vdi, 9 * BLOCK + 4096, contentBytes({ offsetMiB: 0, lengthMiB: 1, seed: 'freed' }));
  // Free space zeroed in the guest: block 9 is still allocated, but holds zeros now.
  await lab.host.writeDisk(vdi, 9 * BLOCK, Buffer.alloc(BLOCK));

  const raw = path.join(dir, 'disk.raw');
  const vhd = path.join(dir, 'disk.vhd');
  await exportTo(lab, xapi, vdi, 'raw', raw);
  await exportTo(lab, xapi, vdi, 'vhd', vhd);
  // footer + header + one sector + BAT (20 entries, one sector) + blocks 0 and 5 (bitmap + data) + footer
  assert.equal((await stat(vhd)).size, 2048 + 512 + 2 * (512 + BLOCK) + 512, 'the zeroed block is not exported');
  const bytes = await readFile(vhd);
  const bat = bytes.subarray(2048, 2048 + 20 * 4);
  const entries = Array.from({ length: 20 }, (_, i) => bat.readUInt32BE(i * 4));
  assert.deepEqual(
    entries.map((e, i) => (e === 0xffffffff ? -1 : i)).filter((i) => i >= 0),
    [0, 5],
  );
  assert.deepEqual(bytes.subarray(0, 512), bytes.subarray(bytes.length - 512), 'footer copy identical to the footer');
  assert.equal(checksum(bytes.subarray(0, 512), 64), bytes.readUInt32BE(64));
  assert.equal(checksum(bytes.subarray(512, 1536), 36), bytes.readUInt32BE(512 + 36));

  const vhdi = (await run('vhdiinfo', [vhd])).stdout;
  assert.match(vhdi, /Disk type\s*:\s*Dynamic/);
  assert.match(vhdi, /Media size\s*:.*\(41943040 bytes\)/);
  const info = JSON.parse((await run('qemu-img', ['info', '--output=json', exact(vhd)])).stdout) as {
    'virtual-size': number;
  };
  assert.equal(info['virtual-size'], 40 * MiB);
  await run('qemu-img', ['compare', '-F', 'raw', exact(vhd), raw]);
  const rawBytes = await readFile(raw);
  assert.deepEqual(rawBytes.subarray(512, 512 + a.length), a);
  assert.deepEqual(rawBytes.subarray(5 * BLOCK, 5 * BLOCK + b.length), b);
  assert.ok(rawBytes.subarray(9 * BLOCK, 10 * BLOCK).every((v) => v === 0));
});

test('a VHD whose footer checksum is wrong is refused by the import (VDI_IO_ERROR)', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  const dir = await tempDir(t);
  const source = await newVdi(xapi, 4);
  await lab.host.writeDisk(source, 0, contentBytes({ offsetMiB: 0, lengthMiB: 1, seed: 'checksum' }));
  const vhd = path.join(dir, 'good.vhd');
  await exportTo(lab, xapi, source, 'vhd', vhd);
  const bad = await readFile(vhd);
  bad[40] = (bad[40] ?? 0) ^ 0xff; // original size changed, checksum left as it was
  const target = await newVdi(xapi, 4);
  const task = await xapi.call<string>('task.create', 'bad vhd', '');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      `${lab.url}/import_raw_vdi?format=vhd&vdi=${encodeURIComponent(target)}&session_id=${encodeURIComponent(xapi.sessionId)}&task_id=${encodeURIComponent(task)}`,
      { method: 'PUT', headers: { 'content-length': bad.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(bad);
  });
  assert.equal(status, 200, 'headers come before the body is read, as XAPI sends them');
  const record = await xapi.call<{ status: string; error_info: string[] }>('task.get_record', task);
  assert.equal(record.status, 'failure');
  assert.deepEqual(record.error_info, ['VDI_IO_ERROR', 'Device I/O errors']);
});

// --- independence of the lab from the engine's codecs -------------------------------------------------------

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await tsFiles(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

/** Relative imports (also `import type` and re-exports) of a TypeScript file, as resolved source paths. */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
  return specs.map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts'));
}

test('the XAPI lab imports nothing from the engine’s codecs (src/disk, src/xapi, src/winrm) and has no import circle', async () => {
  const files = [
    ...(await tsFiles(path.join(repo, 'src/lab/xapi'))),
    ...(await tsFiles(path.join(repo, 'src/lab/scenarios'))),
    path.join(repo, 'src/lab/index.ts'),
    path.join(repo, 'src/lab/hostApi.ts'),
    path.join(repo, 'src/lab/readiness.ts'),
  ];
  const forbidden = ['src/disk/', 'src/xapi/', 'src/winrm/'].map((d) => path.join(repo, d));
  const graph = new Map<string, string[]>();
  const offending: string[] = [];
  for (const f of files) {
    const deps = await importsOf(f);
    graph.set(f, deps);
    for (const d of deps)
      if (forbidden.some((p) => d.startsWith(p)))
        offending.push(`${path.relative(repo, f)} → ${path.relative(repo, d)}`);
  }
  assert.deepEqual(offending, []);
  // Depth-first search for a cycle among the lab's own files.
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, trail: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(f)), f].map((x) => path.relative(repo, x)).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});
