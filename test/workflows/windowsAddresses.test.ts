// Addresses that move: on the windows-moving-addresses lab every domain start gives the VM new addresses (IPv6
// too, as the scenario's DHCP does). A whole build — Setup's reboots, the device_id restart, a sysprep failure
// reverted to the snapshot and remedied by a reboot inside the guest — follows the guest from address to address,
// reading each from its agent's report.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { buildVm, identityOf, labConnection, taggedInPool, waitForProgress, windowsInput } from '../helpers/builds.js';

describe('windowsImage with addresses that move at every boot', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;

  before(async () => {
    lab = await startBuildLab({ scenario: 'windows-moving-addresses' });
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
  });

  test('the build follows the guest across every reboot, revert and remedy reboot to an active image', async () => {
    // Bounded waits: a guest looked for at an address it left would otherwise be waited for hours.
    const input = await windowsInput(lab, 'win-moving', {
      timeouts: { install: '5m', sysprep: '5m', halt: '5m', shutdown: '2m' },
      sysprep: { onUnknownFailure: 'fail' },
      // Reported, not fixed: the pending servicing injected below must reach sysprep, so the revert and the
      // remedy reboot happen (the checks' own reboot would clear it first).
      preSysprep: { checks: 'report' },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId: `moving-${randomUUID().slice(0, 8)}`,
      args: [input],
    });
    const build = identityOf(handle);
    const vm = await buildVm(conn, build);
    // Every address the build VM had while running, from the lab's view of each boot.
    const seen = new Set<string>();
    let done = false;
    const watcher = (async () => {
      while (!done) {
        const v = lab.xapi.host.getVm(vm);
        if (v?.powerState === 'Running') seen.add(v.address);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Once the guest runs for good, pending servicing: sysprep fails (0x800F0975), the build reverts to the
    // snapshot (a new boot, a new address) and remedies with a reboot inside the guest (another new address).
    await waitForProgress(handle, (p) => p.steps.some((s) => s.step === 'administrator' && s.status === 'done'));
    lab.guests.inject({ kind: 'sysprep-reserved-storage', vm });
    const result = (await handle.result().finally(() => (done = true))) as {
      imageId: string;
      warnings: string[];
      sysprepAttempts: Array<{ attempt: number; outcome: string; failureType?: string; remedy?: string }>;
    };
    await watcher;
    assert.deepEqual(
      result.sysprepAttempts.map((a) => [a.attempt, a.outcome, a.failureType, a.remedy]),
      [
        [1, 'failed', 'SysprepReservedStorage', undefined],
        [2, 'succeeded', undefined, 'reboot'],
      ],
    );
    assert.ok(seen.size >= 4, `the VM moved at least three times (addresses seen: ${[...seen].join(', ')})`);
    assert.deepEqual(result.warnings, []);
    assert.equal((await cloud.glance.getImage(result.imageId)).status, 'active');
    assert.deepEqual(await taggedInPool(conn, build), []);
  });
});
