// The lab survives its own restart: same refs and pool ref, VDI bytes, VM power states and addresses; sessions and
// tasks do not survive (clients log in again); an operation cut by the restart leaves no half-made objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentBytes } from '../../../src/lab/scenarios/content.js';
import { waitFor } from '../../helpers/waitFor.js';
import { labClient, labStateDir, startTestLab } from '../../helpers/xapiLab.js';

const MiB = 1024 * 1024;

test('a restarted lab keeps its state; running VMs keep running; clients log in again', async (t) => {
  const stateDir = await labStateDir(t);
  const first = await startTestLab(t, { stateDir, scenario: 'existing-vms' });
  const xapi = await labClient(first);
  const poolRef = first.poolRef;
  const [pv] = await xapi.call<string[]>('VM.get_by_name_label', 'debian-pv');
  const before = await xapi.call<Record<string, unknown>>('VM.get_record', pv);
  const disk = first.host.getVm(pv!)!.systemDisk!.vdiRef;
  const address = first.host.getVm(pv!)!.address;
  const written = contentBytes({ offsetMiB: 0, lengthMiB: 1, seed: 'written before the restart' });
  await first.host.writeDisk(disk, 20 * MiB, written);
  const url = first.url;
  await first.stop();

  const second = await startTestLab(t, { stateDir, scenario: 'existing-vms' });
  assert.equal(second.url, url, 'the same port again');
  assert.equal(second.poolRef, poolRef);
  // The old client's session is gone: its next call fails SESSION_INVALID once, then it logs in again by itself.
  const rec = await xapi.call<Record<string, unknown>>('VM.get_record', pv);
  assert.equal(rec.power_state, 'Running');
  assert.equal(rec.domid, before.domid);
  assert.equal(rec.uuid, before.uuid);
  assert.equal(second.host.getVm(pv!)!.address, address);
  assert.deepEqual(await second.host.readDisk(disk, 20 * MiB, written.length), written);
  assert.deepEqual(
    await second.host.readDisk(disk, 10 * MiB, 2 * MiB),
    contentBytes({ offsetMiB: 10, lengthMiB: 2, seed: 'debian-pv data' }),
  );
  await second.stop();

  const third = await startTestLab(t, { stateDir, scenario: 'existing-vms', vmsAfterRestart: 'halt' });
  const again = await labClient(third);
  assert.equal(await again.call('VM.get_power_state', pv), 'Halted', 'a host reboot halts the VMs');
  assert.equal(await again.call('VM.get_domid', pv), -1);
});

test('an operation cut by a restart leaves no half-made objects behind', async (t) => {
  const stateDir = await labStateDir(t);
  // Realistic latencies: the copy of a 96 MiB disk takes long enough to be cut.
  const first = await startTestLab(t, { stateDir, scenario: 'existing-vms', speed: 1 });
  const xapi = await labClient(first);
  const [vm] = await xapi.call<string[]>('VM.get_by_name_label', 'legacy-hvm');
  await xapi.callAsync('VM.hard_shutdown', vm);
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'LVM storage');
  const vdisBefore = (await xapi.call<string[]>('VDI.get_all')).length;
  const copying = xapi.callAsync('VM.copy', vm, 'mid-copy', sr);
  copying.catch(() => undefined);
  await waitFor(
    'the copy under way',
    async () => (await xapi.call<string[]>('VM.get_by_name_label', 'mid-copy')).length === 1,
    30_000,
  );
  const tasks = await xapi.call<string[]>('task.get_all');
  const statuses = await Promise.all(tasks.map((task) => xapi.call<string>('task.get_status', task)));
  assert.ok(statuses.includes('pending'), 'the copy has not finished');
  await first.stop();
  const second = await startTestLab(t, { stateDir, scenario: 'existing-vms' });
  const fresh = await labClient(second);
  assert.deepEqual(await fresh.call('VM.get_by_name_label', 'mid-copy'), []);
  assert.equal((await fresh.call<string[]>('VDI.get_all')).length, vdisBefore);
  assert.deepEqual(await fresh.call('task.get_all'), [], 'tasks do not survive a restart');
});
