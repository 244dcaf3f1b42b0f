// The guest activities against the simulated Windows (the same guest software as a lab VM, on a loopback
// address): PV tools, the extra administrator (password over stdin only), cloudbase-init, sysprep with its
// classified failures, logs, and the bounded wait for WinRM — with every guest fault the brief lists.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { guestActivities as makeGuestActivities, type GuestConnection } from '../../activities/guest.js';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';
import { writeLabInstallers } from '../../src/lab/guest/labInstallers.js';
import { createLogger, setRootLogger } from '../../src/log.js';
import { WinrmClient } from '../../src/winrm/index.js';
import { testDeps } from '../helpers/deps.js';
import { onTeardown } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { failure, run } from '../helpers/activityContext.js';

const LABEL = 'XENIMAGE_CFG';
const logLines: string[] = [];
setRootLogger(
  createLogger({
    level: 'trace',
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    }),
  }),
);

/** The secrets the activities' resolver reads: variables of the test's own, not of this process. */
const secretEnv: Record<string, string> = {};
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'xenimage-guest-activities-'));
onTeardown(() => rm(stateDir, { recursive: true, force: true }));
const guestActivities = makeGuestActivities(testDeps({ stateDir, env: secretEnv }));

function secret(value: string): { secret: string } {
  const name = `guest-test-${randomBytes(6).toString('hex')}`;
  secretEnv[`XENIMAGE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = value;
  return { secret: name };
}

interface Fixture {
  w: StandaloneWindows;
  guest: GuestConnection;
  adminPassword: string;
}

async function fixture(t: Parameters<typeof tempDir>[0] & { after(fn: () => Promise<void>): void }): Promise<Fixture> {
  const dir = await tempDir(t);
  await writeLabInstallers(path.join(dir, 'cd'));
  const adminPassword = `Adm!n-${randomBytes(6).toString('hex')}`;
  const w = await startStandaloneWindows({
    adminPassword,
    scale: 0.001,
    cdDrives: [{ letter: 'D', label: LABEL, dir: path.join(dir, 'cd') }],
  });
  t.after(() => w.stop());
  return {
    w,
    adminPassword,
    guest: {
      address: w.address,
      port: w.port,
      https: false,
      username: 'Administrator',
      password: secret(adminPassword),
    },
  };
}

const FAST = { pollSec: 0.05, timeoutSec: 20 };

test('ensurePvTools installs from the answer CD (detached, 3010, reboot) and then finds the agent running', async (t) => {
  const { w, guest } = await fixture(t);
  const first = await run(() => guestActivities.ensurePvTools({ guest, ...FAST }));
  assert.deepEqual(first, {
    alreadyInstalled: false,
    exitCode: 3010,
    rebooted: true,
    address: w.address,
    // XenServer VM Tools, silent and without auto-update (docs/operator-guide.md, PV tools).
    installer: {
      kind: 'xenserver',
      msi: 'D:\\managementagentx64.msi',
      properties: ['ALLOWDRIVERINSTALL=YES', 'ALLOWDRIVERUPDATE=NO', 'ALLOWAUTOUPDATE=NO', 'IDENTIFYAUTOUPDATE=NO'],
    },
  });
  assert.ok(w.events.includes('reboot'));
  assert.equal(w.machine.service('xenagent')?.running, true);
  assert.match(
    w.machine.readFile('C:\\Windows\\Temp\\xstools.log')?.toString() ?? '',
    /Installation success or error status: 3010/,
  );
  const again = await run(() => guestActivities.ensurePvTools({ guest, ...FAST }));
  assert.equal(again.alreadyInstalled, true);
});

test('ensurePvTools: MSI 1603 is a non-retryable MsiFatalError, 1618 a retryable MsiBusy', async (t) => {
  const { w, guest } = await fixture(t);
  w.inject({ kind: 'msi-exit', msi: 'managementagent', code: 1603 });
  const fatal = await failure(run(() => guestActivities.ensurePvTools({ guest, ...FAST })));
  assert.equal(fatal.type, 'MsiFatalError');
  assert.equal(fatal.nonRetryable, true);
  assert.match(fatal.message, /Return value 3/);
  w.inject({ kind: 'msi-exit', msi: 'managementagent', code: 1618 });
  const busy = await failure(run(() => guestActivities.ensurePvTools({ guest, ...FAST })));
  assert.equal(busy.type, 'MsiBusy');
  assert.equal(busy.nonRetryable, false);
  // The fault is gone: the retry the workflow would make succeeds.
  assert.equal((await run(() => guestActivities.ensurePvTools({ guest, ...FAST }))).exitCode, 3010);
});

test('addAdministrator: the password travels over stdin only — in no command line the guest received, no log line, no result', async (t) => {
  const { w, guest } = await fixture(t);
  const password = `N3w-Adm!n-${randomBytes(8).toString('hex')}`;
  const result = await run(() =>
    guestActivities.addAdministrator({ guest, name: 'builder', password: secret(password) }),
  );
  assert.deepEqual(result, { name: 'builder', created: true });
  assert.ok(w.machine.isAdmin('builder'));
  assert.equal(
    w.machine.regGet(
      'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System',
      'LocalAccountTokenFilterPolicy',
    )?.data,
    1,
  );
  assert.ok(w.machine.commandLog.length > 0);
  for (const line of w.machine.commandLog) assert.ok(!line.includes(password), 'password in a guest command line');
  assert.ok(w.machine.commandLog.some((l) => l.includes('[Console]::In.ReadLine()')));
  assert.ok(!logLines.join('').includes(password), 'password in a log line');
  assert.ok(!JSON.stringify(result).includes(password));
  // Idempotent: a retried activity converges (password reset, membership kept).
  assert.deepEqual(
    await run(() => guestActivities.addAdministrator({ guest, name: 'builder', password: secret(password) })),
    { name: 'builder', created: false },
  );
});

test('addAdministrator: the password policy (2245) is a typed, non-retryable AdminPasswordPolicy that names the remedy', async (t) => {
  const { w, guest } = await fixture(t);
  w.inject({ kind: 'password-policy' });
  const f = await failure(
    run(() =>
      guestActivities.addAdministrator({ guest, name: 'builder', password: secret('Perfectly-F1ne-passw0rd') }),
    ),
  );
  assert.equal(f.type, 'AdminPasswordPolicy');
  assert.equal(f.nonRetryable, true);
  assert.match(f.message, /complexity/);
  const weak = await failure(
    run(() => guestActivities.addAdministrator({ guest, name: 'builder', password: secret('short') })),
  );
  assert.equal(weak.type, 'AdminPasswordPolicy');
  assert.ok(!weak.message.includes('short'));
  const bad = await failure(
    run(() => guestActivities.addAdministrator({ guest, name: 'bad name;', password: secret('x') })),
  );
  assert.equal(bad.type, 'InvalidInput');
});

test('a VM reset during a command is a retryable WinrmConnectionLost', async (t) => {
  const { w, guest } = await fixture(t);
  w.inject({ kind: 'reset-during-command', match: 'EncodedCommand' });
  const f = await failure(
    run(() => guestActivities.addAdministrator({ guest, name: 'builder', password: secret('N3w-Adm!n-pass') })),
  );
  assert.ok(['WinrmConnectionLost', 'WinrmUnreachable'].includes(f.type ?? ''), f.type ?? '');
  assert.equal(f.nonRetryable, false);
});

test('installCloudbaseInit: silent MSI, configuration over stdin, SetSetupComplete → start type demand', async (t) => {
  const { w, guest } = await fixture(t);
  const r = await run(() => guestActivities.installCloudbaseInit({ guest, serialPort: 'COM1', ...FAST }));
  assert.deepEqual(r, { alreadyInstalled: false, exitCode: 0, startType: 'Manual' });
  const conf =
    w.machine
      .readFile('C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\conf\\cloudbase-init-unattend.conf')
      ?.toString() ?? '';
  assert.match(conf, /^logging_serial_port_settings=COM1,115200,N,8$/m);
  assert.match(conf, /^plugins=cloudbaseinit\.plugins\.common\.mtu\.MTUPlugin,/m);
  assert.match(
    w.machine.readFile('C:\\Windows\\Setup\\Scripts\\SetupComplete.cmd')?.toString() ?? '',
    /sc config cloudbase-init start= auto/,
  );
  const cmdline = w.machine.commandLog.find((l) => /RUN_SERVICE_AS_LOCAL_SYSTEM/.test(l)) ?? '';
  assert.ok(!/RUN_SERVICE_AS_LOCAL_SYSTEM=0/.test(cmdline));
  w.inject({ kind: 'msi-exit', msi: 'cloudbase', code: 1603 });
  const { guest: g2, w: w2 } = await fixture(t);
  w2.inject({ kind: 'msi-exit', msi: 'cloudbase', code: 1603 });
  assert.equal(
    (await failure(run(() => guestActivities.installCloudbaseInit({ guest: g2, ...FAST })))).type,
    'MsiFatalError',
  );
});

test('runSysprep: success is proved by ImageState and the tag file, cached answer files are removed, then shutdown', async (t) => {
  const { w, guest } = await fixture(t);
  await run(() => guestActivities.installCloudbaseInit({ guest, ...FAST }));
  w.machine.writeFile('C:\\Windows\\Panther\\unattend.xml', '<unattend>cached</unattend>');
  const r = await run(() => guestActivities.runSysprep({ guest, ...FAST }));
  assert.equal(r.imageState, 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE');
  assert.equal(r.tagFile, true);
  assert.equal(r.shutdownIssued, true);
  assert.equal(w.machine.fileExists('C:\\Windows\\Panther\\unattend.xml'), false);
  assert.match(
    w.machine.readFile('C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log')?.toString() ?? '',
    /FCreateTagFile:Successfully created tag file/,
  );
  await waitFor('the guest to shut down', () => w.events.includes('shutdown'), 10_000);
});

test('runSysprep failures are classified from the Panther logs: AppX (with the package), reserved storage, hung', async (t) => {
  const { w, guest, adminPassword } = await fixture(t);
  await run(() => guestActivities.installCloudbaseInit({ guest, ...FAST }));
  const pkg = 'Microsoft.BingWeather_4.53.51922.0_x64__8wekyb3d8bbwe';
  w.inject({ kind: 'sysprep-appx', package: pkg });
  const appx = await failure(run(() => guestActivities.runSysprep({ guest, ...FAST })));
  assert.equal(appx.type, 'SysprepAppxFailure');
  assert.equal(appx.nonRetryable, true);
  assert.match(appx.message, new RegExp(`Remove-AppxPackage -Package ${pkg.replace(/\./g, '\\.')}`));
  assert.equal((appx.details?.[0] as { package: string }).package, pkg);
  assert.equal(w.machine.imageState, 'IMAGE_STATE_COMPLETE');
  // The remedy the error names works: remove the package, sysprep gets past AppX validation.
  const client = new WinrmClient({
    host: w.address,
    port: w.port,
    https: false,
    username: 'Administrator',
    password: adminPassword,
  });
  t.after(() => client.close());
  assert.equal((await client.runPowerShell(`Remove-AppxPackage -Package '${pkg}' -AllUsers`)).exitCode, 0);
  w.inject({ kind: 'sysprep-reserved-storage' });
  const reserved = await failure(run(() => guestActivities.runSysprep({ guest, ...FAST })));
  assert.equal(reserved.type, 'SysprepReservedStorage');
  assert.match(reserved.message, /reboot/);
  w.machine.state.servicingPending = false;
  w.inject({ kind: 'sysprep-hang' });
  const hung = await failure(run(() => guestActivities.runSysprep({ guest, pollSec: 0.05, timeoutSec: 1 })));
  assert.equal(hung.type, 'SysprepHung');
  assert.equal(
    [...w.machine.processes].some((p) => p.image === 'sysprep.exe'),
    false,
  );
  // Logs for the operator: the tails of Panther's, in the result.
  const logs = await run(() => guestActivities.collectLogs({ guest }));
  const setupact = logs.files.find((f) => f.guestPath.endsWith('Sysprep\\Panther\\setupact.log'));
  assert.ok(setupact);
  assert.ok(setupact.lines.some((l) => /Beginning of a new sysprep run/.test(l)));
  assert.ok(logs.missing.length > 0);
});

test('collectLogs: the tails of the guest logs, 200 lines a file, within the byte budget, scrubbed of the build secrets', async (t) => {
  const { w, guest, adminPassword } = await fixture(t);
  const productKey = `KEY${randomBytes(6).toString('hex')}`;
  const long = Array.from({ length: 500 }, (_, i) => `cbinit line ${i}`);
  long.push(`using the password ${adminPassword} and the key ${productKey}`);
  w.machine.writeFile('C:\\Windows\\Temp\\cbinit.log', long.join('\r\n') + '\r\n');
  const logs = await run(() => guestActivities.collectLogs({ guest, scrub: [secret(productKey)] }));
  const cbinit = logs.files.find((f) => f.guestPath === 'C:\\Windows\\Temp\\cbinit.log');
  assert.ok(cbinit);
  assert.equal(cbinit.lines.length, 200);
  assert.equal(cbinit.truncated, true);
  assert.equal(cbinit.lines[0], 'cbinit line 301');
  assert.match(cbinit.lines.at(-1)!, /using the password \[REDACTED\] and the key \[REDACTED\]/);
  const text = JSON.stringify(logs);
  assert.ok(!text.includes(adminPassword) && !text.includes(productKey), 'no secret value in the result');
  assert.ok(logs.missing.includes('C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log'));

  const small = await run(() => guestActivities.collectLogs({ guest, maxBytes: 1000 }));
  assert.ok(small.bytes <= 1000, `${small.bytes} bytes`);
  const kept = small.files.find((f) => f.guestPath === 'C:\\Windows\\Temp\\cbinit.log');
  assert.ok(kept && kept.truncated && kept.lines.length < 200 && kept.lines.at(-1)!.includes('[REDACTED]'));
});

test('shutdownGuest: the generalized guest is shut down from inside', async (t) => {
  const { w, guest } = await fixture(t);
  assert.deepEqual(await run(() => guestActivities.shutdownGuest({ guest })), { issued: true });
  await waitFor('the guest to shut down', () => w.events.includes('shutdown'), 10_000);
});

test('waitForWinrm: reachable at once; 401 and refused connections end in a bounded WinrmNotReachable that says why', async (t) => {
  const { w, guest } = await fixture(t);
  const ok = await run(() => guestActivities.waitForWinrm({ guest, ...FAST }));
  assert.equal(ok.computerName, 'WIN-STANDALONE');
  w.inject({ kind: 'winrm-401', times: 1000 });
  const started = Date.now();
  const auth = await failure(run(() => guestActivities.waitForWinrm({ guest, pollSec: 0.1, timeoutSec: 1 })));
  assert.ok(Date.now() - started < 5000);
  assert.equal(auth.type, 'WinrmNotReachable');
  assert.match(auth.message, /refused the credentials/);
  await w.stop();
  const refused = await failure(run(() => guestActivities.waitForWinrm({ guest, pollSec: 0.1, timeoutSec: 1 })));
  assert.match(refused.message, /connection refused/);
});

test('waitForWinrm: a blackholed WinRM (timeouts) is waited out, then recovered', async (t) => {
  const { w, guest } = await fixture(t);
  w.inject({ kind: 'winrm-timeout', operation: 'Create', times: 1 });
  // The first attempt's Create gets no answer; its request timeout (OperationTimeout + margin) fires, the next one works.
  const r = await run(() =>
    guestActivities.waitForWinrm({ guest, pollSec: 0.05, timeoutSec: 60, attemptTimeoutSec: 2 }),
  );
  assert.ok(r.attempts >= 2);
});

test('bad input is refused before anything happens: missing secret, HTTPS without the pinned certificate', async (t) => {
  const { w, guest } = await fixture(t);
  const before = w.server.requests.length;
  const missing = await failure(
    run(() =>
      guestActivities.waitForWinrm({ guest: { ...guest, password: { secret: 'no-such-secret-anywhere' } }, ...FAST }),
    ),
  );
  assert.equal(missing.type, 'SecretMissing');
  const https = await failure(run(() => guestActivities.waitForWinrm({ guest: { ...guest, https: true }, ...FAST })));
  assert.equal(https.type, 'InvalidInput');
  assert.equal(w.server.requests.length, before);
});

test('cancellation: a waiting activity stops at once when Temporal cancels it', async (t) => {
  const { w, guest } = await fixture(t);
  await w.stop();
  const env = new MockActivityEnvironment({ activityType: 'waitForWinrm' });
  // Cancelled once the wait has begun (its first heartbeat), long before its next poll.
  env.once('heartbeat', () => env.cancel());
  const started = Date.now();
  await assert.rejects(
    env.run(() => guestActivities.waitForWinrm({ guest, pollSec: 5, timeoutSec: 600 })),
    (e: Error) => /cancel/i.test(e.name + e.message),
  );
  assert.ok(Date.now() - started < 3000);
});
