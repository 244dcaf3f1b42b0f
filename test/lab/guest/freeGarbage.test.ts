// Free-space garbage (docs/decisions/windows-0010-smaller-images.md): an installed simulated Windows leaves deleted
// data in free space on its system disk, so an export carries those blocks; zeros written over free space take
// them out of the export (the lab exports only blocks that do not read as zeros, xapi-0003).
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { readState, zeroFreeGarbage } from '../../../src/lab/guest/disk.js';
import { labClient, labGuests, startTestLab } from '../../helpers/xapiLab.js';
import { waitFor } from '../../helpers/waitFor.js';

const VHD_BLOCK = 2 * 1024 * 1024;

async function exportVhd(url: string): Promise<Buffer> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, resolve);
    req.on('error', reject);
    req.end();
  });
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  assert.equal(res.statusCode, 200, body.subarray(0, 300).toString());
  return body;
}

/** The allocated 2 MiB blocks of a dynamic VHD, by index, read from its header's BAT (Microsoft VHD specification). */
function allocatedBlocks(vhd: Buffer): Set<number> {
  const header = 512;
  const batOffset = Number(vhd.readBigUInt64BE(header + 16));
  const entries = vhd.readUInt32BE(header + 28);
  assert.equal(vhd.readUInt32BE(header + 32), VHD_BLOCK);
  const out = new Set<number>();
  for (let i = 0; i < entries; i++) if (vhd.readUInt32BE(batOffset + 4 * i) !== 0xffffffff) out.add(i);
  return out;
}

test('free-space garbage is in an export after the install and gone (no blocks) once zeros are written over it', async (t) => {
  const lab = await startTestLab(t, { speed: 0.002, scenario: 'windows-ready' });
  const xapi = await labClient(lab);
  const guests = await labGuests(lab);
  await waitFor('the windows-ready guest', () => guests.guests().find((x) => x.vm === 'windows-ready'));
  const [vmRef] = await xapi.call<string[]>('VM.get_by_name_label', 'windows-ready');
  const disk = lab.host.getVm(vmRef!)?.systemDisk;
  assert.ok(disk, 'the VM has a system disk');
  const garbage = await waitFor(
    'the guest state with its free-space garbage',
    async () => (await readState(lab.host, disk.vdiRef))?.freeGarbage,
  );
  const extents = garbage.extents;
  assert.ok(extents.length >= 1, 'some deleted data is modelled');
  // Exported as the build exports it: the guest halted.
  await xapi.call('VM.hard_shutdown', vmRef);
  const vdiUuid = await xapi.call<string>('VDI.get_uuid', disk.vdiRef);
  const url = `${lab.url}/export_raw_vdi?vdi=${vdiUuid}&format=vhd&session_id=${encodeURIComponent(xapi.sessionId)}`;

  const before = allocatedBlocks(await exportVhd(url));
  for (const e of extents) {
    assert.equal(e.offset % VHD_BLOCK, 0, 'each extent starts a VHD block of its own');
    assert.ok(before.has(e.offset / VHD_BLOCK), `garbage at ${e.offset} is exported`);
    assert.ok((await lab.host.readDisk(disk.vdiRef, e.offset, e.length)).some((b) => b !== 0));
  }

  assert.equal(
    await zeroFreeGarbage(lab.host, disk.vdiRef, extents),
    extents.reduce((n, e) => n + e.length, 0),
  );
  const after = allocatedBlocks(await exportVhd(url));
  for (const e of extents) assert.ok(!after.has(e.offset / VHD_BLOCK), `garbage at ${e.offset} is no longer exported`);
  assert.equal(after.size, before.size - extents.length, 'only the garbage blocks left the export');
});
