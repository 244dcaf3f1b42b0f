// The pre-sysprep checks against the simulated Windows: every state behind a common sysprep failure (an update
// installing, a reboot pending for three reasons, an AppX package installed for a user but not provisioned,
// BitLocker on C:) is found; `report` changes nothing, `fix` remedies each and sysprep then succeeds first time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { guestActivities as makeGuestActivities, type GuestConnection } from '../../activities/guest.js';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';
import { SESSION_MANAGER } from '../../src/lab/guest/windows/servicing.js';
import { testDeps } from '../helpers/deps.js';
import { tempDir } from '../helpers/tmp.js';
import { run } from '../helpers/activityContext.js';

const secretEnv: Record<string, string> = {};
const UNPROVISIONED = 'Contoso.Notes_1.2.3.0_x64__8wekyb3d8bbwe';
const PROVISIONED = 'Microsoft.WindowsStore_22401.1400.6.0_x64__8wekyb3d8bbwe';
const FAST = { pollSec: 0.05, timeoutSec: 30 };

async function guest(t: TestContext, troubled: boolean) {
  const adminPassword = `Adm!n-${randomBytes(6).toString('hex')}`;
  // The lab's time scale (0.01): the 20 s update install takes 200 ms, the decryption 600 ms.
  const w = await startStandaloneWindows({ adminPassword, scale: 0.01 });
  t.after(() => w.stop());
  w.machine.state.appx.push({ fullName: PROVISIONED, user: 'Administrator', provisioned: true });
  if (troubled) {
    w.inject({ kind: 'sysprep-appx', package: UNPROVISIONED, user: 'Administrator' });
    w.inject({ kind: 'sysprep-reserved-storage' });
    w.inject({
      kind: 'pre-sysprep-state',
      state: {
        pendingFileRenames: ['C:\\Windows\\System32\\drivers\\xennet.sys'],
        updateRebootRequired: true,
        updatesInstallingMs: 20_000,
        bitlocker: true,
        reservedStorage: 'Enabled',
      },
    });
  }
  const name = `pre-sysprep-${randomBytes(6).toString('hex')}`;
  secretEnv[`XENIMAGE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = adminPassword;
  const connection: GuestConnection = {
    address: w.address,
    port: w.port,
    https: false,
    username: 'Administrator',
    password: { secret: name },
  };
  return { w, connection, activities: makeGuestActivities(testDeps({ stateDir: await tempDir(t), env: secretEnv })) };
}

const outcomes = (r: { checks: Array<{ check: string; outcome: string }> }) =>
  Object.fromEntries(r.checks.map((c) => [c.check, c.outcome]));

function assertTroubled(w: StandaloneWindows): void {
  assert.ok(w.machine.state.appx.some((p) => p.fullName === UNPROVISIONED));
  assert.ok(w.machine.regGet(SESSION_MANAGER, 'PendingFileRenameOperations'));
  assert.equal(w.machine.state.bitlocker?.volumeStatus, 'FullyEncrypted');
  assert.equal(w.machine.state.servicingPending, true);
}

test('a clean guest: every check is clear, the reserved storage state is reported', async (t) => {
  const { connection, activities } = await guest(t, false);
  const r = await run(() => activities.preSysprepChecks({ guest: connection, mode: 'fix', ...FAST }));
  assert.deepEqual(outcomes(r), {
    'updates-installing': 'clear',
    'pending-reboot': 'clear',
    appx: 'clear',
    bitlocker: 'clear',
    'reserved-storage': 'clear',
  });
  assert.match(r.checks.find((c) => c.check === 'reserved-storage')!.detail, /reserved storage Enabled/);
});

test('report: every state is found and named, nothing is changed', async (t) => {
  const { w, connection, activities } = await guest(t, true);
  const r = await run(() => activities.preSysprepChecks({ guest: connection, mode: 'report', ...FAST }));
  assert.deepEqual(outcomes(r), {
    'updates-installing': 'found',
    'pending-reboot': 'found',
    appx: 'found',
    bitlocker: 'found',
    'reserved-storage': 'clear',
  });
  const detail = Object.fromEntries(r.checks.map((c) => [c.check, c.detail]));
  assert.match(detail['pending-reboot']!, /component servicing.*Windows Update.*pending file renames/);
  assert.match(detail.appx!, new RegExp(UNPROVISIONED.replace(/\./g, '\\.')));
  assert.doesNotMatch(detail.appx!, /WindowsStore/, 'a provisioned package is not a problem');
  assert.match(detail.bitlocker!, /FullyEncrypted/);
  assert.ok(!w.events.includes('reboot'));
  assertTroubled(w);
});

test('fix: waits for the update, reboots, removes the package, decrypts C:; sysprep then succeeds at once', async (t) => {
  const { w, connection, activities } = await guest(t, true);
  assertTroubled(w);
  const r = await run(() => activities.preSysprepChecks({ guest: connection, mode: 'fix', ...FAST }));
  assert.deepEqual(outcomes(r), {
    'updates-installing': 'fixed',
    'pending-reboot': 'fixed',
    appx: 'fixed',
    bitlocker: 'fixed',
    'reserved-storage': 'clear',
  });
  assert.deepEqual(w.events, ['reboot'], 'one reboot');
  assert.deepEqual(
    w.machine.state.appx.map((p) => p.fullName),
    [PROVISIONED],
  );
  assert.equal(w.machine.regGet(SESSION_MANAGER, 'PendingFileRenameOperations'), undefined);
  assert.equal(w.machine.state.bitlocker, undefined);
  // The unattend file cloudbase-init's installer leaves, which sysprep is run with.
  const unattend = 'C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\conf\\Unattend.xml';
  w.machine.mkdir(unattend.slice(0, unattend.lastIndexOf('\\')));
  w.machine.writeFile(unattend, '<unattend xmlns="urn:schemas-microsoft-com:unattend"/>');
  const sysprep = await run(() => activities.runSysprep({ guest: connection, shutdown: false, ...FAST }));
  assert.equal(sysprep.imageState, 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE');
});
