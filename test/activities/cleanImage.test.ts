// A clean image (docs/decisions/windows-0007-clean-image.md) against the simulated Windows: the first logon the
// answer media plans (token filter policy, firewall rule, WinRM over HTTPS with the build's certificate) runs
// first, then removeBuildFiles (before the snapshot) and sealGuest (the guest's last command), and the test reads
// back from the machine's state what the image keeps.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { guestActivities as makeGuestActivities, type GuestConnection } from '../../activities/guest.js';
import { Cmd } from '../../src/lab/guest/cmd.js';
import { GuestProcess } from '../../src/lab/guest/process.js';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';
import { firewallRules } from '../../src/lab/guest/windows/firewall.js';
import { createListenerCertificate } from '../../src/windows/certificate.js';
import { firstLogonPlan } from '../../src/windows/firstLogon.js';
import { testDeps } from '../helpers/deps.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { run } from '../helpers/activityContext.js';

const LABEL = 'XENIMAGE_CFG';
const TOKEN_KEY = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System';
const secretEnv: Record<string, string> = {};

interface Built {
  w: StandaloneWindows;
  guest: GuestConnection;
  thumbprint: string;
  activities: ReturnType<typeof makeGuestActivities>;
}

/** A guest as the build leaves it before sysprep: the answer media's first logon ran, Setup cached the answer file. */
async function builtGuest(t: TestContext): Promise<Built> {
  const dir = await tempDir(t);
  const cd = path.join(dir, 'cd');
  const cert = await createListenerCertificate({ commonName: 'XENIMAGE', tmpDir: dir });
  const plan = firstLogonPlan({ label: LABEL, mode: 'https', pfxPassword: cert.pfxPassword, installPvTools: false });
  for (const [rel, text] of Object.entries({ ...plan.scripts, 'xenimage/winrm-listener.pfx': cert.pfx })) {
    await mkdir(path.dirname(path.join(cd, rel)), { recursive: true });
    await writeFile(path.join(cd, rel), text);
  }
  const adminPassword = `Adm!n-${randomBytes(6).toString('hex')}`;
  // The WinRM service listens over HTTPS with the build's certificate, as the first logon configures it.
  const w = await startStandaloneWindows({
    adminPassword,
    // The lab's time scale: the seal's 30 s head start for the launching shell is 300 ms.
    scale: 0.01,
    https: { pfx: cert.pfx, passphrase: cert.pfxPassword },
    cdDrives: [{ letter: 'D', label: LABEL, dir: cd }],
  });
  t.after(() => w.stop());
  for (const c of plan.commands) {
    const proc = new GuestProcess('cmd.exe', c.commandLine);
    const out: string[] = [];
    const io = {
      proc,
      out: (s: string) => void out.push(s),
      err: (s: string) => void out.push(s),
      user: 'Administrator',
      vars: w.machine.envVars(),
    };
    assert.equal(await new Cmd(w.machine, io).run(c.commandLine), 0, `${c.description}: ${out.join('')}`);
  }
  w.machine.writeFile('C:\\Windows\\Panther\\unattend.xml', '<unattend><AdministratorPassword/></unattend>');
  w.machine.writeFile('C:\\Windows\\Temp\\xenimage-pvtools.status', '0');
  const name = `clean-image-${randomBytes(6).toString('hex')}`;
  secretEnv[`XENIMAGE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = adminPassword;
  const stateDir = await tempDir(t);
  return {
    w,
    thumbprint: cert.thumbprint,
    activities: makeGuestActivities(testDeps({ stateDir, env: secretEnv })),
    guest: {
      address: w.address,
      port: w.port,
      https: true,
      certificatePem: cert.certPem,
      username: 'Administrator',
      password: { secret: name },
    },
  };
}

/** The sealing script has run to its end (it is the only detached PowerShell). */
async function sealFinished(w: StandaloneWindows): Promise<void> {
  await waitFor(
    'the seal script to end',
    () => ![...w.machine.processes].some((p) => p.image === 'powershell.exe'),
    20_000,
  );
}

test('the first logon left the build its access: HTTPS listener with its certificate, Basic, the firewall rule, the token policy', async (t) => {
  const { w, thumbprint } = await builtGuest(t);
  const s = w.machine.state;
  assert.equal(s.winrm.httpsThumbprint, thumbprint);
  assert.ok(s.certificates[thumbprint], 'the listener certificate and key are in the store');
  assert.equal(s.winrm.basic, true);
  assert.ok(s.winrm.firewall.includes(5986));
  assert.ok(firewallRules(w.machine).some((r) => r.displayName === 'xenimage WinRM HTTPS' && r.ports.includes(5986)));
  assert.equal(w.machine.regGet(TOKEN_KEY, 'LocalAccountTokenFilterPolicy')?.data, 1);
});

test('guestRemoteAccess none: removeBuildFiles says what it removed and WinRM still answers; the seal leaves no listener, key, Basic, rule or policy, then shuts down', async (t) => {
  const { w, guest, thumbprint, activities } = await builtGuest(t);
  const first = await run(() => activities.removeBuildFiles({ guest, remoteAccess: 'none' }));
  assert.deepEqual(first.removed.sort(), [
    'C:\\Windows\\Panther\\unattend.xml',
    'C:\\Windows\\Temp\\xenimage-pvtools.status',
    'LocalAccountTokenFilterPolicy',
  ]);
  assert.equal(w.machine.readFile('C:\\Windows\\Panther\\unattend.xml'), undefined);
  assert.equal(w.machine.regGet(TOKEN_KEY, 'LocalAccountTokenFilterPolicy'), undefined);
  // A retry finds nothing left to remove (and the build, as the built-in Administrator, still gets in).
  assert.deepEqual(await run(() => activities.removeBuildFiles({ guest, remoteAccess: 'none' })), { removed: [] });

  const sealed = await run(() => activities.sealGuest({ guest, remoteAccess: 'none' }));
  assert.deepEqual(sealed, { launched: true, removesCertificate: true });
  await waitFor('the guest to shut down', () => w.events.includes('shutdown'), 20_000);
  const s = w.machine.state;
  assert.deepEqual(
    { http: s.winrm.http, https: s.winrm.httpsThumbprint, basic: s.winrm.basic, unencrypted: s.winrm.allowUnencrypted },
    { http: false, https: null, basic: false, unencrypted: false },
  );
  assert.equal(s.certificates[thumbprint], undefined, 'the listener certificate and its key are gone');
  assert.deepEqual(
    s.winrm.firewall.filter((p) => p === 5985 || p === 5986),
    [],
  );
  assert.ok(!firewallRules(w.machine).some((r) => r.displayName.startsWith('xenimage ')), 'the build rules are gone');
  assert.ok(!firewallRules(w.machine).some((r) => r.active && r.ports.includes(5985)), 'no active WinRM HTTP rule');
  assert.equal(w.machine.service('winrm')?.startType, 'DEMAND_START');
});

test('guestRemoteAccess winrm-https: the build key and listeners go, the token policy, an HTTPS rule and the service stay', async (t) => {
  const { w, guest, thumbprint, activities } = await builtGuest(t);
  const files = await run(() => activities.removeBuildFiles({ guest, remoteAccess: 'winrm-https' }));
  assert.ok(!files.removed.includes('LocalAccountTokenFilterPolicy'));
  await run(() => activities.sealGuest({ guest, remoteAccess: 'winrm-https' }));
  await waitFor('the guest to shut down', () => w.events.includes('shutdown'), 20_000);
  const s = w.machine.state;
  assert.equal(s.winrm.httpsThumbprint, null, 'no listener bound to the build certificate');
  assert.equal(s.certificates[thumbprint], undefined);
  assert.equal(s.winrm.allowUnencrypted, false);
  assert.equal(w.machine.regGet(TOKEN_KEY, 'LocalAccountTokenFilterPolicy')?.data, 1);
  assert.ok(firewallRules(w.machine).some((r) => r.displayName === 'Windows Remote Management (HTTPS-In)' && r.active));
  assert.ok(!firewallRules(w.machine).some((r) => r.displayName.startsWith('xenimage ')));
  assert.ok(s.winrm.firewall.includes(5986));
  assert.equal(w.machine.service('winrm')?.startType, 'AUTO_START');
});

test('a removal that fails stops the seal before the shutdown: the guest stays up', async (t) => {
  const { w, guest, activities } = await builtGuest(t);
  // Set-Service WinRM fails when the service is not there: the last removal of the script.
  delete w.machine.state.services.winrm;
  await run(() => activities.sealGuest({ guest, remoteAccess: 'none' }));
  await sealFinished(w);
  assert.equal(w.machine.state.winrm.httpsThumbprint, null, 'the script ran up to the failing removal');
  assert.ok(!w.events.includes('shutdown'), 'no shutdown after a failed removal');
});
