// Addresses that move (the windows-moving-addresses lab: new addresses at every domain start, a second NIC and
// IPv6 reported by the agent): the guest report lists them all and picks VIF 0's IPv4; a report from the domain
// before a reboot never counts; a reboot inside a guest activity reads the new address and comes back with it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { guestActivities } from '../../activities/guest.js';
import { xenActivities } from '../../activities/xen.js';
import { attachWindowsGuests } from '../../src/lab/guest/attach.js';
import { guestAddresses, reachableAddress } from '../../src/xapi/guestAddress.js';
import { testDeps } from '../helpers/deps.js';
import { testLogger } from '../helpers/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { beforeLabStops, labClient, startTestLab } from '../helpers/xapiLab.js';

function call<A, R>(fn: (input: A) => Promise<R>, input: A): Promise<R> {
  return new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 }).run(fn, input) as Promise<R>;
}

test('addresses from guest metrics: every VIF and family; VIF 0’s IPv4 first, never link-local, IPv6 when alone', () => {
  const networks = {
    '1/ipv6/0': 'fd00::1:2',
    '0/ip': '10.0.0.5',
    '0/ipv4/0': '10.0.0.5',
    '0/ipv6/1': 'fe80::1',
    '0/ipv6/0': '2001:db8::5',
    '1/ip': '192.168.1.9',
    '1/ipv4/0': '192.168.1.9',
    'something/else': 'x',
  };
  assert.deepEqual(guestAddresses(networks), [
    { device: '0', family: 'ipv4', address: '10.0.0.5' },
    { device: '0', family: 'ipv6', address: '2001:db8::5' },
    { device: '0', family: 'ipv6', address: 'fe80::1' },
    { device: '1', family: 'ipv4', address: '192.168.1.9' },
    { device: '1', family: 'ipv6', address: 'fd00::1:2' },
  ]);
  assert.equal(reachableAddress(guestAddresses(networks)), '10.0.0.5');
  const v6only = { '0/ipv6/0': 'fe80::1', '0/ipv6/1': 'fd12::7', '0/ipv6/2': '2001:db8::9', '1/ip': '10.1.1.1' };
  assert.equal(reachableAddress(guestAddresses(v6only)), '2001:db8::9', 'global IPv6 before unique local');
  assert.equal(reachableAddress(guestAddresses({ '0/ipv6/0': 'fd12::7' })), 'fd12::7');
  assert.equal(reachableAddress(guestAddresses({ '0/ip': '169.254.3.4', '1/ip': '10.1.1.1' })), undefined);
});

async function movingLab(t: TestContext) {
  const lab = await startTestLab(t, { speed: 0.002, scenario: 'windows-moving-addresses' });
  const guests = await attachWindowsGuests(lab.host, {
    stateDir: lab.stateDir,
    guests: lab.scenario.guests,
    ports: { http: 0, https: 0 },
    log: testLogger(),
  });
  beforeLabStops(lab, () => guests.stop());
  const xapi = await labClient(lab);
  const [vm] = await xapi.call<string[]>('VM.get_by_name_label', 'windows-moving');
  const g = await waitFor('the windows-moving guest', () => guests.guests().find((x) => x.vm === 'windows-moving'));
  const name = `moving-${randomBytes(4).toString('hex')}`;
  const deps = testDeps({
    stateDir: await tempDir(t),
    poolsFile: lab.poolsFile,
    secretsDir: lab.secretsDir,
    env: { [`XENIMAGE_SECRET_${name.toUpperCase().replace(/-/g, '_')}`]: g.password! },
  });
  beforeLabStops(lab, () => deps.close());
  return { lab, xapi, vm: vm!, g, password: { secret: name }, xen: xenActivities(deps), guest: guestActivities(deps) };
}

test('the guest report lists both NICs and IPv6, reaches VIF 0’s IPv4, and after a reboot only the new boot counts', async (t) => {
  const { lab, xapi, vm, xen } = await movingLab(t);
  const first = await call(xen.waitForGuest, { pool: lab.poolName, vm, timeoutMs: 60_000 });
  const view = lab.host.getVm(vm)!;
  assert.equal(first.ip, view.address);
  assert.deepEqual(
    first.addresses.map((a) => [a.device, a.family, a.address]).sort(),
    [['0', 'ipv4', view.address], ...view.extraAddresses.map((e) => [e.device, e.family, e.address])].sort(),
  );
  assert.equal(first.addresses.length, 4, 'two NICs, each with IPv4 and IPv6');

  await xapi.callAsync('VM.clean_reboot', vm);
  const again = await call(xen.waitForGuest, {
    pool: lab.poolName,
    vm,
    timeoutMs: 60_000,
    otherThanDomid: first.domid,
  });
  assert.notEqual(again.domid, first.domid);
  assert.notEqual(again.ip, first.ip, 'the reboot moved the guest');
  assert.equal(again.ip, lab.host.getVm(vm)!.address);
});

test('a reboot inside a guest activity follows the guest to its new address and returns it', async (t) => {
  const { lab, vm, g, password, guest } = await movingLab(t);
  const before = g.address;
  const result = await call(guest.applySysprepRemedy, {
    guest: { address: before, port: g.port, https: false, password, locate: { pool: lab.poolName, vm } },
    remedy: 'reboot',
    timeoutSec: 120,
    pollSec: 0.2,
  });
  assert.equal(result.applied, 'reboot');
  const now = lab.host.getVm(vm)!.address;
  assert.notEqual(now, before, 'the reboot moved the guest');
  assert.equal(result.address, now);
  const ready = await call(guest.waitForWinrm, {
    guest: { address: result.address, port: g.port, https: false, password },
    timeoutSec: 30,
    pollSec: 0.2,
  });
  assert.ok(ready);
});
