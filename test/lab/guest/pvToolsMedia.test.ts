// PV tools of today in a lab guest: answer media without an installer, the tools on another CD (as the pool's
// tools ISO is inserted), found by their file name, installed with their kind's MSI properties — which the lab's
// Windows Installer records, so they are read back here — and the XCP-ng tools refusing the Windows Update
// vendor device as their launch condition does. No CD with tools: a typed error naming what was looked for.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { attachWindowsGuests } from '../../../src/lab/guest/attach.js';
import { writeLabInstallers } from '../../../src/lab/guest/labInstallers.js';
import { makeIso } from '../../../src/lab/xapi/setup/isoImage.js';
import { SecretResolver } from '../../../src/secrets.js';
import * as ops from '../../../src/windows/guest/index.js';
import { buildAnswerMedia, removeAnswerMedia } from '../../../src/windows/index.js';
import { assessPvTools } from '../../../src/xapi/pvDrivers.js';
import { testLogger } from '../../helpers/logger.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/waitFor.js';
import { beforeLabStops, labClient, startTestLab } from '../../helpers/xapiLab.js';
import { buildVm, guestMetrics, importIso, insertCd } from './labVm.js';

const PASSWORD = 'Lab-Admin-Pw-1!';
const secrets = new SecretResolver({ dir: '/nonexistent/secrets', env: { XENIMAGE_SECRET_LAB_ADMIN: PASSWORD } });

type Lab = Awaited<ReturnType<typeof labWithGuests>>;

async function labWithGuests(t: Parameters<typeof startTestLab>[0]) {
  const lab = await startTestLab(t, { speed: 0.002 });
  const xapi = await labClient(lab);
  const guests = await attachWindowsGuests(lab.host, {
    stateDir: lab.stateDir,
    ports: { http: 0, https: 0 },
    log: testLogger(),
  });
  beforeLabStops(lab, () => guests.stop());
  const dir = await tempDir(t);
  const installers = await writeLabInstallers(path.join(dir, 'installers'));
  return { lab, xapi, guests, dir, installers };
}

/**
 * A VM installed from answer media that carry no PV tools, with `toolsIso` (files → text) in CD drive 2 and
 * has_vendor_device as given; returns the WinRM context once the first logon enabled WinRM (its last step).
 */
async function bootWithoutTools(
  l: Lab,
  name: string,
  o: { toolsIso?: Record<string, string>; vendorDevice: boolean },
): Promise<{ vm: string; ctx: ops.GuestContext; volumeLabel: string }> {
  const { lab, xapi, guests, dir } = l;
  const media = await buildAnswerMedia(
    {
      firmware: 'bios',
      image: { name: 'Windows Server 2022 Datacenter Evaluation' },
      computerName: 'WIN-TOOLS',
      adminPassword: { secret: 'lab-admin' },
      cloudbaseInit: { msi: l.installers.cloudbaseInit },
    },
    { stateDir: dir, buildId: name, secrets },
  );
  const vm = await buildVm(xapi, name);
  await insertCd(xapi, vm, '1', await importIso(lab, xapi, media.isoPath, `${name}-answer.iso`));
  await removeAnswerMedia(media.isoPath);
  if (o.toolsIso) {
    const iso = path.join(dir, `${name}-tools.iso`);
    await makeIso(iso, 'Tools', o.toolsIso);
    await insertCd(xapi, vm, '2', await importIso(lab, xapi, iso, `${name}-tools.iso`));
  }
  await xapi.call('VM.set_has_vendor_device', vm, o.vendorDevice);
  await xapi.callAsync('VM.start', vm, false, false);
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
  return { vm, ctx, volumeLabel: media.volumeLabel };
}

test('XCP-ng Windows PV Tools from a tools CD: found by name, installed without properties, the drivers report XCP_ng', async (t) => {
  const l = await labWithGuests(t);
  const { vm, ctx, volumeLabel } = await bootWithoutTools(l, 'win-xcpng-tools', {
    toolsIso: { 'README.txt': 'stand-in\n', 'XenTools-x64.msi': 'xenimage-lab-xcp-ng-pv-tools 9.2.350\n' },
    vendorDevice: false,
  });
  const r = await ops.ensurePvTools(ctx, { volumeLabel, timeoutMs: 30_000 });
  assert.deepEqual(
    { ...r, installer: r.installer && { ...r.installer, msi: r.installer.msi.replace(/^[A-Z]:/, 'X:') } },
    {
      alreadyInstalled: false,
      exitCode: 3010,
      rebooted: true,
      installer: { msi: 'X:\\XenTools-x64.msi', kind: 'xcp-ng', properties: [] },
    },
  );
  // The lab's Windows Installer kept what msiexec was given: no properties for the XCP-ng package.
  const product = l.guests.guest(vm)!.machine!.state.products.find((p) => p.msi === 'XenTools-x64.msi');
  assert.equal(product?.name, 'XCP-ng Windows PV Tools');
  assert.deepEqual(product?.properties, {});
  const metrics = await waitFor('PV drivers after the reboot', async () => {
    const m = await guestMetrics(l.xapi, vm);
    return m?.PV_drivers_detected === true ? m : undefined;
  });
  const assessment = assessPvTools(metrics.PV_drivers_version as Record<string, string>);
  assert.deepEqual(
    { vendor: assessment.vendor, vulnerable: assessment.xsa468Vulnerable },
    { vendor: 'XCP-ng', vulnerable: false },
  );
});

test('XenServer VM Tools under their versioned name from a tools CD: the no-auto-update properties, drivers through Windows Update when asked', async (t) => {
  const l = await labWithGuests(t);
  const { vm, ctx, volumeLabel } = await bootWithoutTools(l, 'win-xs-tools', {
    toolsIso: { 'managementagent-9.4.0-x64.msi': 'xenimage-lab-pv-tools 9.4.0\n' },
    vendorDevice: true,
  });
  const r = await ops.ensurePvTools(ctx, { volumeLabel, timeoutMs: 30_000, windowsUpdateDrivers: true });
  assert.equal(r.installer?.kind, 'xenserver');
  assert.match(r.installer?.msi ?? '', /^[A-Z]:\\managementagent-9\.4\.0-x64\.msi$/);
  const product = l.guests.guest(vm)!.machine!.state.products.find((p) => p.name === 'XenServer VM Tools');
  assert.deepEqual(product?.properties, {
    ALLOWDRIVERINSTALL: 'YES',
    ALLOWDRIVERUPDATE: 'YES',
    ALLOWAUTOUPDATE: 'NO',
    IDENTIFYAUTOUPDATE: 'NO',
  });
});

test('the XCP-ng tools refuse the Windows Update vendor device (1603); no CD with tools is PvToolsInstallerNotFound', async (t) => {
  const l = await labWithGuests(t);
  const [withDevice, without] = await Promise.all([
    bootWithoutTools(l, 'win-xcpng-c000', {
      toolsIso: { 'XenTools-x64.msi': 'xenimage-lab-xcp-ng-pv-tools 9.2.350\n' },
      vendorDevice: true,
    }),
    bootWithoutTools(l, 'win-no-tools', { vendorDevice: false }),
  ]);
  await assert.rejects(
    ops.ensurePvTools(withDevice.ctx, { volumeLabel: withDevice.volumeLabel, timeoutMs: 30_000 }),
    (e: Error & { type: string; retryable: boolean }) =>
      e.type === 'MsiFatalError' && !e.retryable && /XCP-ng Windows PV Tools: fatal error/.test(e.message),
  );
  await assert.rejects(
    ops.ensurePvTools(without.ctx, { volumeLabel: without.volumeLabel, timeoutMs: 30_000 }),
    (e: Error & { type: string; retryable: boolean }) =>
      e.type === 'PvToolsInstallerNotFound' &&
      !e.retryable &&
      /managementagent\*x64\.msi, XenTools-x64\.msi, XenDrivers-x64\.msi/.test(e.message),
  );
});
