// The shipped scenarios validate; a scenario VM has the disk bytes its file declares; the guest sections pass
// through untouched; bad scenarios fail typed before anything is created.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { InvalidInputError } from '../../../src/errors.js';
import { contentBytes } from '../../../src/lab/scenarios/content.js';
import { listScenarios, loadScenario } from '../../../src/lab/scenarios/load.js';
import { labStateDir, startTestLab } from '../../helpers/xapiLab.js';

test('every shipped scenario validates', async () => {
  const names = await listScenarios();
  for (const required of [
    'default',
    'existing-vms',
    'two-hosts',
    'fault-connection-reset',
    'fault-http500',
    'fault-slow',
    'fault-session-expired',
    'fault-host-is-slave',
    'fault-export-cut',
    'fault-import-io-error',
    'fault-event-stall',
    'windows-ready',
    'windows-moving-addresses',
    'xenserver-8',
    'xcp-ng-8.3',
    'xcp-ng-8.2',
  ]) {
    assert.ok(names.includes(required), required);
  }
  for (const name of names) {
    const s = await loadScenario(name);
    assert.equal(s.name, name);
  }
  const faults = await loadScenario('fault-host-is-slave');
  assert.equal(faults.hosts.length, 2, 'extends chains resolve');
  assert.equal(faults.faults.xapi[0]?.kind, 'hostIsSlave');
});

test('existing-vms: VMs with real disk contents in known blocks, guest sections passed through', async (t) => {
  const guests = { vms: { 'debian-pv': { os: 'linux' } } };
  const scenario = {
    ...(await loadScenario('existing-vms')),
    name: 'custom',
    extends: undefined,
    guests,
    faults: { xapi: [], guest: [{ kind: 'winrm-refused', anything: 1 }] },
  };
  const lab = await startTestLab(t, { scenario });
  assert.deepEqual(lab.scenario.guests, guests);
  assert.deepEqual(lab.scenario.faults.guest, [{ kind: 'winrm-refused', anything: 1 }]);
  const vms = lab.host.listVms();
  assert.deepEqual(vms.map((v) => [v.nameLabel, v.powerState, v.domainType]).sort(), [
    ['debian-pv', 'Running', 'pv'],
    ['legacy-hvm', 'Running', 'hvm'],
  ]);
  const hvm = vms.find((v) => v.nameLabel === 'legacy-hvm')!;
  assert.equal(hvm.systemDisk?.virtualSize, 96 * 1024 * 1024);
  assert.deepEqual(
    await lab.host.readDisk(hvm.systemDisk!.vdiRef, 33 * 1024 * 1024, 3 * 1024 * 1024),
    contentBytes({ offsetMiB: 33, lengthMiB: 3, seed: 'legacy-hvm data' }),
  );
  assert.deepEqual(
    hvm.cdroms.map((c) => c.isoPath),
    [null],
  );
  assert.notEqual(vms[0]!.address, vms[1]!.address);
});

test('scenario rules: Secure Boot and a vTPM need UEFI; an old xapi has no vTPM and no Windows 11 template', async () => {
  const base = { name: 'x', pool: { name: 'p' }, hosts: [{ name: 'h' }] };
  const problems = async (scenario: object) =>
    loadScenario(scenario).then(
      () => '',
      (err: Error) => err.message,
    );
  assert.match(await problems({ ...base, vms: [{ name: 'v', secureBoot: true }] }), /need firmware "uefi"/);
  assert.match(await problems({ ...base, vms: [{ name: 'v', vtpm: true }] }), /need firmware "uefi"/);
  assert.match(
    await problems({
      ...base,
      pool: { name: 'p', product: 'xcp-ng-8.2' },
      vms: [{ name: 'v', firmware: 'uefi', vtpm: true }],
    }),
    /xcp-ng-8\.2 has no VTPM class/,
  );
  assert.match(
    await problems({ ...base, pool: { name: 'p', product: 'xcp-ng-8.2' }, templates: ['windows-11'] }),
    /xcp-ng-8\.2 does not ship "windows-11"/,
  );
  assert.equal(await problems({ ...base, vms: [{ name: 'v', firmware: 'uefi', secureBoot: true, vtpm: true }] }), '');
});

test('bad scenarios fail typed, before anything is created', async (t) => {
  const dir = await labStateDir(t);
  await assert.rejects(
    startTestLab(t, { stateDir: dir, scenario: 'no-such-scenario' }),
    (err: unknown) => err instanceof InvalidInputError && /not found.*default/.test(err.message),
  );
  await assert.rejects(
    startTestLab(t, {
      stateDir: dir,
      scenario: {
        name: 'x',
        pool: { name: 'p' },
        hosts: [{ name: 'h' }],
        vms: [{ name: 'v', disks: [{ sr: 'nope', sizeMiB: 1 }] }],
      },
    }),
    (err: unknown) => err instanceof InvalidInputError && /unknown SR "nope"/.test(err.message),
  );
  assert.deepEqual(await readdir(dir), []);
});
