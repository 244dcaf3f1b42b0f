// Addresses of VMs as guests see them (LabVmView.address, extraAddresses): one per VM for its life by default;
// with the scenario's `vmAddresses.perBoot` a new one at every domain start — API start, reboot, a reboot by the
// guest, a start after a revert — and further ones for more NICs and IPv6, kept across a lab restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Xapi } from 'xen-api';
import type { XapiLab } from '../../../src/lab/xapi/index.js';
import { labClient, labStateDir, startTestLab } from '../../helpers/xapiLab.js';

const snapshotOf = (lab: XapiLab, vm: string) => {
  const v = lab.host.getVm(vm)!;
  return { address: v.address, extra: v.extraAddresses };
};

async function theVm(xapi: Xapi, name: string): Promise<string> {
  const [vm] = await xapi.call<string[]>('VM.get_by_name_label', name);
  assert.ok(vm);
  return vm;
}

test('per-boot addresses: every domain start gives the VM new ones; a second NIC and IPv6 are reported', async (t) => {
  const stateDir = await labStateDir(t);
  const lab = await startTestLab(t, { stateDir, scenario: 'windows-moving-addresses' });
  const xapi = await labClient(lab);
  const vm = await theVm(xapi, 'windows-moving');
  const first = snapshotOf(lab, vm);
  const base = first.address.split('.').slice(0, 3).join('.');
  assert.match(first.address, /^127\.\d+\.\d+\.\d+$/);
  assert.deepEqual(
    first.extra.map((e) => [e.device, e.family]),
    [
      ['1', 'ipv4'],
      ['0', 'ipv6'],
      ['1', 'ipv6'],
    ],
  );
  assert.ok(first.extra[0]!.address.startsWith(`${base}.`), 'the second NIC is in the lab’s own range');
  for (const e of first.extra.filter((x) => x.family === 'ipv6'))
    assert.match(e.address, /^fd58:656e:6c61:[0-9a-f]+::[0-9a-f]+$/);
  assert.equal(new Set([first.address, ...first.extra.map((e) => e.address)]).size, 4, 'all different');

  const seen = [first.address];
  const expectNew = (why: string) => {
    const now = snapshotOf(lab, vm);
    assert.ok(!seen.includes(now.address), `${why}: a new address (${now.address} after ${seen.join(', ')})`);
    assert.notEqual(now.extra[0]!.address, first.extra[0]!.address, `${why}: the second NIC's too`);
    seen.push(now.address);
  };
  await xapi.call('VM.hard_reboot', vm);
  expectNew('VM.hard_reboot');
  await lab.host.guestReboot(vm);
  expectNew('a reboot by the guest');
  const snap = await xapi.call<string>('VM.snapshot', vm, 'before');
  await xapi.call('VM.revert', snap);
  assert.equal(await xapi.call('VM.get_power_state', vm), 'Halted');
  await xapi.call('VM.start', vm, false, false);
  expectNew('a start after a revert');
  assert.equal(lab.describe().vms.find((v) => v.ref === vm)?.address, seen.at(-1));

  const kept = snapshotOf(lab, vm);
  await lab.stop();
  const again = await startTestLab(t, { stateDir, scenario: 'windows-moving-addresses' });
  assert.deepEqual(snapshotOf(again, vm), kept, 'a toolstack restart keeps the running domain’s addresses');
});

test('without per-boot addresses a VM keeps its address for its life; a second VIF gets its own', async (t) => {
  const lab = await startTestLab(t, { scenario: 'existing-vms' });
  const xapi = await labClient(lab);
  const vm = await theVm(xapi, 'legacy-hvm');
  const before = snapshotOf(lab, vm);
  assert.deepEqual(before.extra, [], 'one NIC, no IPv6');
  await xapi.call('VM.hard_reboot', vm);
  await xapi.call('VM.hard_shutdown', vm);
  const [net] = await xapi.call<string[]>('network.get_all');
  await xapi.call('VIF.create', {
    device: '1',
    network: net,
    VM: vm,
    MAC: '',
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  await xapi.call('VM.start', vm, false, false);
  const after = snapshotOf(lab, vm);
  assert.equal(after.address, before.address);
  assert.equal(after.extra.length, 1);
  assert.deepEqual([after.extra[0]!.device, after.extra[0]!.family], ['1', 'ipv4']);
  const others = lab.host.listVms().filter((v) => v.ref !== vm);
  assert.ok(!others.some((v) => v.address === after.extra[0]!.address), 'no VM shares it');
});
