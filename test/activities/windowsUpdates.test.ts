// Windows Update rounds (docs/decisions/windows-0009-windows-update.md) against the simulated Windows over WinRM:
// the round runs as SYSTEM through a scheduled task, a restart follows a round that needs one, the update that
// fails once installs in the next round, an excluded KB is never installed, the superseded update is never
// offered, a retried round reuses its result, and the agent refuses the WinRM logon itself.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { guestActivities as makeGuestActivities, type GuestConnection } from '../../activities/guest.js';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';
import { updateState } from '../../src/lab/guest/windows/updates.js';
import { testDeps } from '../helpers/deps.js';
import { tempDir } from '../helpers/tmp.js';
import { run } from '../helpers/activityContext.js';

const secretEnv: Record<string, string> = {};

async function guest(t: TestContext): Promise<{
  w: StandaloneWindows;
  guest: GuestConnection;
  activities: ReturnType<typeof makeGuestActivities>;
}> {
  const adminPassword = `Adm!n-${randomBytes(6).toString('hex')}`;
  const w = await startStandaloneWindows({ adminPassword, scale: 0.01 });
  t.after(() => w.stop());
  const name = `updates-${randomBytes(6).toString('hex')}`;
  secretEnv[`XENIMAGE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = adminPassword;
  return {
    w,
    activities: makeGuestActivities(testDeps({ stateDir: await tempDir(t), env: secretEnv })),
    guest: { address: w.address, port: w.port, https: false, username: 'Administrator', password: { secret: name } },
  };
}

test('rounds until none is left: restarts after the rounds that need one, the failing update installs in the next round, excluded and superseded KBs never install', async (t) => {
  const { w, guest: g, activities } = await guest(t);
  const round = (n: number) =>
    run(() => activities.updateRound({ guest: g, round: n, exclude: ['KB2267602'], timeoutSec: 120, pollSec: 0.2 }));

  const r1 = await round(1);
  assert.deepEqual(
    r1.installed.map((u) => u.kb),
    ['KB5044414', 'KB5044281'],
  );
  assert.deepEqual(r1.failed, [{ kb: 'KB5044035', title: r1.failed[0]!.title, hresult: '0x80070643' }]);
  assert.deepEqual(r1.skipped, [{ kb: 'KB2267602', reason: 'excluded' }]);
  assert.ok(!r1.offered.includes('KB5043080'), 'the superseded cumulative update is not offered');
  assert.equal(r1.rebootRequired, true);
  assert.equal(r1.rebooted, true);
  assert.equal(w.events.filter((e) => e === 'reboot').length, 1);

  const r2 = await round(2);
  assert.deepEqual(
    r2.installed.map((u) => u.kb),
    ['KB5044035', 'KB5046540'],
    'the .NET update that failed once installs, and the update that needed the restarted cumulative one is offered',
  );
  assert.deepEqual(r2.failed, []);
  assert.equal(r2.rebooted, true);

  const r3 = await round(3);
  assert.deepEqual(r3.installed, []);
  assert.deepEqual(r3.offered, ['KB2267602'], 'only the excluded update is left');
  assert.equal(r3.rebooted, false);

  const installed = Object.keys(updateState(w.machine.state).installed).sort();
  assert.deepEqual(installed, ['KB5044035', 'KB5044281', 'KB5044414', 'KB5046540']);
  // The rounds ran as SYSTEM through tasks that are gone afterwards.
  assert.deepEqual(w.machine.state.scheduledTasks, {});
  assert.ok(w.machine.commandLog.some((l) => /Register-ScheduledTask/.test(l)));

  // A retried round finds its result: nothing runs again, no second restart.
  const again = await round(3);
  assert.equal(again.reused, true);
  assert.equal(w.events.filter((e) => e === 'reboot').length, 2);
});

test('categories: only updates of the listed classifications install', async (t) => {
  const { w, guest: g, activities } = await guest(t);
  const r = await run(() =>
    activities.updateRound({ guest: g, round: 1, categories: ['Definition Updates'], timeoutSec: 120, pollSec: 0.2 }),
  );
  assert.deepEqual(
    r.installed.map((u) => u.kb),
    ['KB2267602'],
  );
  assert.ok(r.skipped.every((s) => s.reason === 'category'));
  assert.equal(r.rebooted, false);
  assert.ok(!w.events.includes('reboot'));
});

test("component clean-up runs DISM as SYSTEM, with /ResetBase when asked; the rounds' files leave the guest", async (t) => {
  const { w, guest: g, activities } = await guest(t);
  await run(() =>
    activities.updateRound({ guest: g, round: 1, categories: ['Definition Updates'], timeoutSec: 120, pollSec: 0.2 }),
  );
  assert.ok(w.machine.dirExists('C:\\ProgramData\\xenimage\\updates'));
  const r = await run(() => activities.componentCleanup({ guest: g, resetBase: true, timeoutSec: 120, pollSec: 0.2 }));
  assert.deepEqual(r, { resetBase: true, exitCode: 0 });
  assert.deepEqual(updateState(w.machine.state).componentCleanups, [{ resetBase: true }]);
  assert.ok(!w.machine.dirExists('C:\\ProgramData\\xenimage\\updates'), "the rounds' scripts and results are gone");
  assert.deepEqual(w.machine.listDir('C:\\ProgramData\\xenimage'), []);

  // Without DISM only the files go.
  const filesOnly = await run(() =>
    activities.componentCleanup({ guest: g, dism: false, resetBase: false, timeoutSec: 120, pollSec: 0.2 }),
  );
  assert.deepEqual(filesOnly, { resetBase: null, exitCode: null });
  assert.equal(updateState(w.machine.state).componentCleanups.length, 1);
});

test('the agent refuses a download from the WinRM logon itself (0x80070005): why the rounds run as a SYSTEM task', async (t) => {
  const { w } = await guest(t);
  const { runPowerShellScript } = await import('../../src/lab/guest/powershell.js');
  const { GuestProcess } = await import('../../src/lab/guest/process.js');
  const out: string[] = [];
  const io = {
    proc: new GuestProcess('powershell.exe', 'powershell.exe'),
    out: (s: string) => void out.push(s),
    err: (s: string) => void out.push(s),
    user: 'Administrator',
    vars: w.machine.envVars(),
  };
  const code = await runPowerShellScript(
    w.machine,
    [
      "$ErrorActionPreference = 'Stop'",
      '$s = New-Object -ComObject Microsoft.Update.Session',
      '$r = $s.CreateUpdateSearcher().Search("IsInstalled=0 and Type=\'Software\' and IsHidden=0")',
      '$c = New-Object -ComObject Microsoft.Update.UpdateColl',
      '[void]$c.Add($r.Updates.Item(0))',
      '$d = $s.CreateUpdateDownloader()',
      '$d.Updates = $c',
      'try { $d.Download() } catch { Write-Output $_.Exception.Message }',
      '$s.Frobnicate()',
    ].join('\r\n'),
    io,
  );
  const text = out.join('');
  assert.match(text, /Access is denied\. \(Exception from HRESULT: 0x80070005 \(E_ACCESSDENIED\)\)/);
  assert.match(text, /does not contain a method named 'Frobnicate'/);
  assert.notEqual(code, 0);
  assert.deepEqual(updateState(w.machine.state).downloaded, []);
});
