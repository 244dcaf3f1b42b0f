// Firmware and trust end to end: a Windows 11 build on UEFI with Secure Boot and a vTPM lands an active image
// with the properties that ask the cloud for the same platform; a Windows 11 input without a vTPM, a Secure Boot
// build on BIOS and a vTPM on a pool without the VTPM class are refused with the reason before anything exists.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { WindowsImageInput } from '../../src/contracts/windowsInput.js';
import {
  detectRelease,
  missingForRelease,
  platformImageProperties,
  releaseFromName,
  type PlatformResult,
} from '../../src/contracts/windowsPlatform.js';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { waitFor } from '../helpers/waitFor.js';
import { assertNothingLeft, buildVm, identityOf, labConnection, rootFailure, windowsInput } from '../helpers/builds.js';

const WIN11: Partial<WindowsImageInput> = {
  installIso: 'Win11_24H2_English_x64.iso',
  windows: { imageName: 'Windows 11 Pro', firmware: 'uefi', secureBoot: true },
  vm: { vtpm: true },
};

test('the release is read from the input, the image name, then the ISO name; each release’s needs', () => {
  assert.equal(releaseFromName('Win11_24H2_English_x64.iso'), 'windows-11');
  assert.equal(releaseFromName('Windows 11 Pro'), 'windows-11');
  assert.equal(releaseFromName('SERVER_EVAL_2025_x64FRE_en-us.iso'), 'server-2025');
  assert.equal(releaseFromName('Windows Server 2022 Standard Evaluation'), 'server-2022');
  assert.equal(releaseFromName('SERVER_EVAL_x64FRE_en-us.iso'), undefined);
  assert.deepEqual(detectRelease({ imageName: 'Windows 11 Pro', installIso: 'SERVER_EVAL_x64FRE_en-us.iso' }), {
    release: 'windows-11',
    from: 'image name',
  });
  assert.deepEqual(detectRelease({ installIso: 'SERVER_EVAL_2025_x64FRE_en-us.iso' }), {
    release: 'server-2025',
    from: 'ISO name',
  });
  assert.deepEqual(detectRelease({ release: 'windows-10', imageName: 'Windows 11 Pro', installIso: 'x.iso' }), {
    release: 'windows-10',
    from: 'input',
  });
  assert.deepEqual(detectRelease({ installIso: 'custom.iso' }), { release: null, from: 'unknown' });
  const bios = { firmware: 'bios', secureBoot: false, vtpm: false } as const;
  assert.deepEqual(missingForRelease(bios, 'windows-11'), [
    'UEFI firmware (windows.firmware: "uefi")',
    'Secure Boot (windows.secureBoot: true)',
    'a vTPM (vm.vtpm: true)',
  ]);
  assert.deepEqual(missingForRelease(bios, 'server-2025'), ['UEFI firmware (windows.firmware: "uefi")']);
  assert.deepEqual(missingForRelease({ ...bios, firmware: 'uefi' }, 'server-2025'), []);
  assert.deepEqual(missingForRelease(bios, 'server-2022'), []);
  assert.deepEqual(missingForRelease(bios, null), []);
  assert.deepEqual(platformImageProperties(bios), {});
  assert.deepEqual(platformImageProperties({ firmware: 'uefi', secureBoot: false, vtpm: true }), {
    hw_firmware_type: 'uefi',
    hw_tpm_version: '2.0',
  });
});

describe('windowsImage on UEFI, Secure Boot and a vTPM (XCP-ng 8.3)', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;

  before(async () => {
    lab = await startBuildLab({ scenario: 'xcp-ng-8.3', product: 'xcp-ng-8.3' });
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
  });

  test('a Windows 11 build lands an active image with hw_firmware_type, os_secure_boot and hw_tpm_version', async () => {
    const input = await windowsInput(lab, 'win11-golden', {
      ...WIN11,
      image: { name: 'win11-golden', properties: { os_distro: 'windows', os_version: '11' } },
      vm: { vtpm: true, deviceId: '0002' },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId: `win11-${randomUUID().slice(0, 8)}`,
      args: [input],
    });
    const build = identityOf(handle);
    // While it builds: the VM is UEFI with Secure Boot on and has its VTPM.
    const vm = await buildVm(conn, build);
    const during = await waitFor('the build VM’s VTPM', async () => {
      const r = await conn.fetch('VM', vm);
      return r.VTPMs.length === 1 ? r : undefined;
    });
    assert.equal(during.HVM_boot_params.firmware, 'uefi');
    assert.equal(during.platform.secureboot, 'true');

    const result = (await handle.result()) as {
      imageId: string;
      platform: PlatformResult;
      warnings: string[];
      deviceId: { wasSet: boolean };
      deviceIdPolicy: { policy: string; action: string; value?: string };
      pvTools: { version: string; xsa468Vulnerable: boolean | null; warning?: string };
    };
    // device_id 0002 by policy: set on the VM (the lab's tools leave none), asked of nova through the image.
    assert.deepEqual(result.deviceId, { wasSet: false });
    assert.deepEqual(result.deviceIdPolicy, { policy: '0002', action: 'set', value: '0002' });
    // The lab's tools are XenServer VM Tools 9.4.0: older than the XSA-468 fixes, and the result says so.
    assert.equal(result.pvTools.xsa468Vulnerable, true);
    assert.match(
      result.pvTools.warning ?? '',
      /^the PV tools \(9\.4\.0\.146\) are older than the XSA-468 fixes.*9\.4\.1/,
    );
    assert.deepEqual(
      { ...result.platform, vtpmUuid: typeof result.platform.vtpmUuid },
      {
        firmware: 'uefi',
        secureBoot: true,
        vtpm: true,
        release: 'windows-11',
        releaseFrom: 'image name',
        vtpmUuid: 'string',
        imageProperties: { hw_firmware_type: 'uefi', os_secure_boot: 'required', hw_tpm_version: '2.0' },
      },
    );
    assert.deepEqual(result.warnings, []);
    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.status, 'active');
    assert.equal(image.hw_firmware_type, 'uefi');
    assert.equal(image.os_secure_boot, 'required');
    assert.equal(image.hw_tpm_version, '2.0');
    assert.equal(image.os_version, '11');
    assert.equal(image.xenapi_device_id, '0002');

    const progress = await handle.query<BuildProgress>('progress');
    const step = (name: string) => progress.steps.find((s) => s.step === name);
    assert.match(step('validate targets')?.note ?? '', /XCP-ng 8\.3\.0/);
    assert.match(step('create VM')?.note ?? '', new RegExp(`VTPM ${result.platform.vtpmUuid!}`));
    assert.equal(step('device_id')?.note, 'set 0002');
    assert.equal(step('restart for device_id')?.status, 'done');
    // The VTPM went with the VM at the cleanup.
    await conn.barrier();
    assert.equal(
      conn.all('VM').filter((v) => v.other_config['xenimage-build'] === build).length,
      0,
      'the build VM is gone',
    );
    const vtpms = await conn.call<string[]>('VTPM.get_all');
    const [preinstalled] = await conn.call<string[]>('VM.get_by_name_label', 'win11-uefi');
    const others = new Set(await conn.call<string[]>('VM.get_VTPMs', preinstalled));
    assert.deepEqual(
      vtpms.filter((r) => !others.has(r)),
      [],
      'no VTPM but the pre-installed guest’s remains',
    );
  });

  test('Windows 11 without a vTPM is refused with the reason; nothing is created', async () => {
    const input = await windowsInput(lab, 'win11-no-vtpm', { ...WIN11, vm: {} });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId: `win11-no-vtpm-${randomUUID().slice(0, 8)}`,
      args: [input],
    });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    const failure = rootFailure(err);
    assert.equal(failure?.type, 'PlatformRequirementsUnmet');
    assert.equal(failure?.nonRetryable, true);
    assert.equal(
      failure?.message,
      'windows-11 (from the image name) cannot be installed without a vTPM (vm.vtpm: true)',
    );
    await assertNothingLeft(lab, conn, cloud, identityOf(handle));
  });

  test('Secure Boot on BIOS is invalid input', async () => {
    const input = await windowsInput(lab, 'bios-sb', { windows: { firmware: 'bios', secureBoot: true } });
    const err = await lab.client.workflow
      .execute('windowsImage', {
        taskQueue: lab.taskQueue,
        workflowId: `bios-sb-${randomUUID().slice(0, 8)}`,
        args: [input],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const failure = rootFailure(err);
    assert.equal(failure?.type, 'InvalidInput');
    assert.match(failure?.message ?? '', /windows: windows\.secureBoot needs windows\.firmware "uefi"/);
  });
});

describe('windowsImage asking a vTPM of XCP-ng 8.2', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let cloud: OpenStackCloud;

  before(async () => {
    lab = await startBuildLab({ scenario: 'xcp-ng-8.2', product: 'xcp-ng-8.2' });
    conn = await labConnection(lab);
    cloud = lab.openstack.open();
  });

  test('is refused PlatformUnsupported at validate targets, naming the missing VTPM class; nothing is created', async () => {
    const input = await windowsInput(lab, 'win-82-vtpm', {
      windows: { imageName: 'Windows Server 2022 Standard Evaluation', firmware: 'uefi' },
      vm: { vtpm: true },
    });
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId: `win-82-${randomUUID().slice(0, 8)}`,
      args: [input],
    });
    const failure = rootFailure(
      await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.equal(failure?.type, 'PlatformUnsupported');
    assert.equal(failure?.nonRetryable, true);
    assert.match(failure?.message ?? '', /XCP-ng 8\.2\.1.*no VTPM class/);
    await assertNothingLeft(lab, conn, cloud, identityOf(handle));
  });
});
