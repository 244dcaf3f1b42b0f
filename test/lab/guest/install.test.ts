// The answer media of src/windows boot a lab VM (XAPI lab + simulated Windows) to a guest with PV drivers and
// WinRM over HTTPS with the pinned certificate; the guest operations then take it to a generalized, halted
// image whose disk holds real bytes. Broken answer files leave the VM unreachable and the wait says why.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { attachWindowsGuests } from '../../../src/lab/guest/attach.js';
import { readState } from '../../../src/lab/guest/disk.js';
import { writeLabInstallers } from '../../../src/lab/guest/labInstallers.js';
import {
  buildAnswerMedia,
  buildAutounattend,
  buildIso,
  encodeUnattendPassword,
  removeAnswerMedia,
} from '../../../src/windows/index.js';
import { SecretResolver } from '../../../src/secrets.js';
import * as ops from '../../../src/windows/guest/index.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { beforeLabStops, labClient, startTestLab } from '../../helpers/xapiLab.js';
import { testLogger } from '../../helpers/logger.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildVm, guestMetrics, importIso, insertCd } from './labVm.js';
import { waitFor } from '../../helpers/waitFor.js';

const PASSWORD = 'Lab-Admin-Pw-1!';
const secrets = new SecretResolver({ dir: '/nonexistent/secrets', env: { XENIMAGE_SECRET_LAB_ADMIN: PASSWORD } });

async function labWithGuests(t: Parameters<typeof startTestLab>[0]) {
  const lab = await startTestLab(t, { speed: 0.002 });
  const xapi = await labClient(lab);
  const guests = await attachWindowsGuests(lab.host, {
    stateDir: lab.stateDir,
    ports: { http: 0, https: 0 },
    log: testLogger(),
  });
  beforeLabStops(lab, () => guests.stop());
  return { lab, xapi, guests };
}

test('answer media boot a lab VM to PV drivers and HTTPS WinRM; the guest operations reach a generalized, halted disk', async (t) => {
  const { lab, xapi, guests } = await labWithGuests(t);
  const dir = await tempDir(t);
  const installers = await writeLabInstallers(path.join(dir, 'installers'));
  const media = await buildAnswerMedia(
    {
      firmware: 'bios',
      image: { name: 'Windows Server 2022 Datacenter Evaluation' },
      computerName: 'WIN-LAB1',
      adminPassword: { secret: 'lab-admin' },
      pvTools: installers.pvTools,
      cloudbaseInit: { msi: installers.cloudbaseInit },
    },
    { stateDir: dir, buildId: 'lab-build-1', secrets },
  );
  const vm = await buildVm(xapi, 'win-build');
  await insertCd(xapi, vm, '1', await importIso(lab, xapi, media.isoPath, 'lab-build-1-answer.iso'));
  await removeAnswerMedia(media.isoPath);
  await xapi.callAsync('VM.start', vm, false, false);

  const metrics = await waitFor('PV drivers in the guest metrics', async () => {
    const m = await guestMetrics(xapi, vm);
    return m?.PV_drivers_detected === true ? m : undefined;
  });
  const address = lab.host.getVm(vm)!.address;
  assert.equal((metrics.networks as Record<string, string>)['0/ip'], address);
  assert.equal((metrics.other as Record<string, string>)['feature-shutdown'], '1');
  assert.equal((metrics.PV_drivers_version as Record<string, string>).major, '9');

  const info = await waitFor('the HTTPS listener', () => guests.guests().find((g) => g.vmRef === vm && g.https));
  const ctx: ops.GuestContext = {
    guest: {
      address: info.address,
      port: info.port,
      https: true,
      certificatePem: media.winrm.certificatePem!,
      username: 'Administrator',
      password: PASSWORD,
    },
    pollMs: 50,
    log: testLogger(),
  };
  assert.equal((await ops.waitForWinrm(ctx, 30_000)).computerName, 'WIN-LAB1');
  const tools = await ops.ensurePvTools(ctx, { volumeLabel: media.volumeLabel, timeoutMs: 30_000 });
  // Installed at the first logon from the answer CD, with the XenServer tools' no-auto-update properties.
  assert.deepEqual(
    { ...tools, installer: { ...tools.installer, msi: tools.installer?.msi.replace(/^[A-Z]:/, 'X:') } },
    {
      alreadyInstalled: true,
      exitCode: null,
      rebooted: false,
      installer: {
        msi: 'X:\\managementagentx64.msi',
        kind: 'xenserver',
        properties: ['ALLOWDRIVERINSTALL=YES', 'ALLOWDRIVERUPDATE=NO', 'ALLOWAUTOUPDATE=NO', 'IDENTIFYAUTOUPDATE=NO'],
      },
    },
  );
  assert.equal((await ops.addAdministrator(ctx, { name: 'builder', password: 'Second-Pw-22!xyz' })).created, true);
  // Every command line the guest received since Setup (first logon included): no password in any of them.
  const received = guests.guest(vm)!.commandLog;
  assert.ok(received.length > 10);
  for (const line of received) for (const pw of ['Second-Pw-22!xyz', PASSWORD]) assert.ok(!line.includes(pw));
  await ops.installCloudbaseInit(ctx, {
    volumeLabel: media.volumeLabel,
    username: 'Admin',
    injectUserPassword: true,
    runAsLocalSystem: true,
    timeoutMs: 30_000,
  });

  const disk = lab.host.getVm(vm)!.systemDisk!.vdiRef;
  const before = await readState(lab.host, disk);
  assert.ok(before?.files['c:\\windows\\panther\\unattend.xml'], 'Setup cached the answer file, as Windows does');
  const result = await ops.runSysprep(ctx, { timeoutMs: 30_000, shutdown: true });
  assert.equal(result.imageState, 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE');
  await waitFor(
    'the VM to halt after sysprep',
    async () => (await xapi.call<string>('VM.get_power_state', vm)) === 'Halted',
  );

  // The state is on the disk: generalized, no cached answer file, no password in any form on the disk.
  const after = await readState(lab.host, disk);
  assert.equal(
    after?.registry['HKLM\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION\\SETUP\\STATE']?.ImageState?.data,
    'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE',
  );
  assert.equal(after?.files['c:\\windows\\panther\\unattend.xml'], undefined);
  const head = await lab.host.readDisk(disk, 0, 16 * 1024 * 1024);
  for (const form of [
    PASSWORD,
    encodeUnattendPassword(PASSWORD, 'AdministratorPassword'),
    encodeUnattendPassword(PASSWORD, 'Password'),
  ])
    assert.ok(!head.includes(Buffer.from(form)));
  // The "system files": seeded pseudo-random megabytes, not an empty disk.
  const block = await lab.host.readDisk(disk, 8 * 1024 * 1024, 1024 * 1024);
  assert.ok(block.some((b) => b !== 0));
  assert.equal(head.readUInt16LE(510), 0xaa55);
});

test('broken answer media leave the VM unreachable and the bounded wait says why', async (t) => {
  const { lab, xapi, guests } = await labWithGuests(t);
  const dir = await tempDir(t);
  // 1. Not XML at all: Setup stops in windowsPE; nothing ever listens.
  const bad = path.join(dir, 'bad');
  await mkdir(bad);
  await writeFile(
    path.join(bad, 'Autounattend.xml'),
    '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="windowsPE">',
  );
  await buildIso({ sourceDir: bad, output: path.join(dir, 'bad.iso'), volumeLabel: 'XENIMAGE_CFG' });
  const vm1 = await buildVm(xapi, 'win-bad-xml');
  await insertCd(xapi, vm1, '1', await importIso(lab, xapi, path.join(dir, 'bad.iso'), 'bad-answer.iso'));
  await xapi.callAsync('VM.start', vm1, false, false);
  await waitFor('Setup to reject the answer file', () => guests.guest(vm1)?.status.phase === 'setup-failed');
  assert.match(guests.guest(vm1)!.status.setupError!, /could not parse or process the unattend answer file/);
  const ctx1: ops.GuestContext = {
    guest: {
      address: lab.host.getVm(vm1)!.address,
      port: 5985,
      https: false,
      username: 'Administrator',
      password: PASSWORD,
    },
    pollMs: 100,
  };
  await assert.rejects(
    ops.waitForWinrm(ctx1, 1500),
    (e: Error & { type: string }) =>
      e.type === 'WinrmNotReachable' &&
      /connection refused/.test(e.message) &&
      /never enabled WinRM|did not finish/.test(e.message),
  );

  // 2. Valid, but without the WinRM step: the PV agent reports an IP, and still nothing listens.
  const noWinrm = path.join(dir, 'nowinrm');
  await mkdir(noWinrm);
  await writeFile(
    path.join(noWinrm, 'Autounattend.xml'),
    buildAutounattend({
      firmware: 'bios',
      image: { index: 1 },
      uiLanguage: 'en-US',
      inputLocale: 'en-US',
      systemLocale: 'en-US',
      userLocale: 'en-US',
      timeZone: 'UTC',
      computerName: 'WIN-NOWINRM',
      adminPassword: PASSWORD,
      organization: 'xenimage',
      firstLogonCommands: [
        {
          commandLine:
            'reg add "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System" /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f',
          description: 'token filter',
        },
      ],
    }),
  );
  await buildIso({ sourceDir: noWinrm, output: path.join(dir, 'nowinrm.iso'), volumeLabel: 'XENIMAGE_CFG' });
  const vm2 = await buildVm(xapi, 'win-no-winrm');
  await insertCd(xapi, vm2, '1', await importIso(lab, xapi, path.join(dir, 'nowinrm.iso'), 'nowinrm-answer.iso'));
  await xapi.callAsync('VM.start', vm2, false, false);
  await waitFor('the first logon to finish', () =>
    guests.guest(vm2)?.machine?.commandLog.some((l) => l.includes('LocalAccountTokenFilterPolicy')),
  );
  assert.equal(guests.guest(vm2)!.winrm, undefined);
  const ctx2: ops.GuestContext = {
    guest: {
      address: lab.host.getVm(vm2)!.address,
      port: 5985,
      https: false,
      username: 'Administrator',
      password: PASSWORD,
    },
    pollMs: 100,
  };
  await assert.rejects(
    ops.waitForWinrm(ctx2, 1500),
    (e: Error & { type: string; details: { dominant: string } }) =>
      e.type === 'WinrmNotReachable' && e.details.dominant === 'WinrmUnreachable',
  );
});

test('PV tools failing at first logon (MSI 1603) leave no PV drivers; ensurePvTools recovers them over WinRM', async (t) => {
  const { lab, xapi, guests } = await labWithGuests(t);
  const dir = await tempDir(t);
  const installers = await writeLabInstallers(path.join(dir, 'installers'));
  const media = await buildAnswerMedia(
    {
      firmware: 'bios',
      image: { index: 1 },
      computerName: 'WIN-LAB2',
      adminPassword: { secret: 'lab-admin' },
      pvTools: installers.pvTools,
    },
    { stateDir: dir, buildId: 'lab-build-2', secrets },
  );
  const vm = await buildVm(xapi, 'win-tools-1603');
  await insertCd(xapi, vm, '1', await importIso(lab, xapi, media.isoPath, 'lab-build-2-answer.iso'));
  guests.inject({ kind: 'msi-exit', vm: 'win-tools-1603', msi: 'managementagent', code: 1603 });
  await xapi.callAsync('VM.start', vm, false, false);
  // The first logon ends with its reboot; wait for the domain that follows it.
  await waitFor('the first-logon reboot command', () =>
    guests.guest(vm)?.commandLog.some((l) => l.startsWith('shutdown /r')),
  );
  // The guest's log spans boots, the machine's is per boot: a machine without the command is the next boot.
  // (Comparing domids raced: at lab speed the reboot can finish before the first domid is read.)
  await waitFor('the first-logon reboot', () => {
    const m = guests.guest(vm)?.machine;
    return m && !m.commandLog.some((l) => l.startsWith('shutdown /r'));
  });
  const info = await waitFor('the HTTPS listener', () => guests.guests().find((g) => g.vmRef === vm && g.https));
  const ctx: ops.GuestContext = {
    guest: {
      address: info.address,
      port: info.port,
      https: true,
      certificatePem: media.winrm.certificatePem!,
      username: 'Administrator',
      password: PASSWORD,
    },
    pollMs: 50,
    log: testLogger(),
  };
  await ops.waitForWinrm(ctx, 30_000);
  assert.match(guests.guest(vm)!.machine!.readFile('C:\\Windows\\Temp\\xenimage-pvtools.status')!.toString(), /^1603/);
  assert.equal(await guestMetrics(xapi, vm), undefined, 'no PV agent, no guest metrics');
  const r = await ops.ensurePvTools(ctx, { volumeLabel: media.volumeLabel, timeoutMs: 30_000 });
  assert.deepEqual(
    { ...r, installer: r.installer?.kind },
    {
      alreadyInstalled: false,
      exitCode: 3010,
      rebooted: true,
      installer: 'xenserver',
    },
  );
  const metrics = await waitFor('PV drivers after the reboot', async () => {
    const m = await guestMetrics(xapi, vm);
    return m?.PV_drivers_detected === true ? m : undefined;
  });
  assert.equal((metrics.networks as Record<string, string>)['0/ip'], info.address);
});
