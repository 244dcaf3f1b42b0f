// The clean image end to end (docs/decisions/windows-0007-clean-image.md): a Windows build on the lab, its image
// downloaded from Glance and the simulated Windows' state read back from the sysprepped disk — none of the build's
// access (listeners, certificate and key, Basic, AllowUnencrypted, firewall rules, token policy) and none of its
// files ship. The same build meets every state the pre-sysprep checks look for (put on the guest once it runs) and
// generalizes at the first attempt. And the branch where the seal fails: the guest never halts, nothing is published.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import tar from 'tar-stream';
import type { BuildProgress } from '../../src/contracts/messages.js';
import { downloadImage, type OpenStackCloud } from '../../src/openstack/index.js';
import type { WindowsState } from '../../src/lab/guest/state.js';
import { FIREWALL_RULES_KEY } from '../../src/lab/guest/windows/firewall.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { buildVm, identityOf, labConnection, rootFailure, waitForProgress, windowsInput } from '../helpers/builds.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { tempDir } from '../helpers/tmp.js';
import { fakeWorld } from './fakes.js';

const run = promisify(execFile);
const APPX = 'Contoso.Notes_1.2.3.0_x64__8wekyb3d8bbwe';

/** The simulated Windows' state on the image's disk (docs/decisions/windows-0004-simulated-windows.md: 1 MiB in). */
async function imageState(cloud: OpenStackCloud, imageId: string, dir: string): Promise<WindowsState> {
  const vhd = path.join(dir, `${imageId}.vhd`);
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (_header, stream, next) => {
      pipeline(stream, createWriteStream(vhd)).then(() => next(), reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  await pipeline(await downloadImage(cloud, imageId), createGunzip(), extract);
  await done;
  const raw = path.join(dir, `${imageId}.state`);
  await run('qemu-img', ['dd', '-f', 'vpc', '-O', 'raw', 'bs=1M', 'skip=1', 'count=7', `if=${vhd}`, `of=${raw}`]);
  const bytes = await readFile(raw);
  assert.equal(bytes.subarray(0, 8).toString('ascii'), 'XIMGWIN1', 'the disk holds an installed Windows');
  const len = bytes.readUInt32LE(8);
  return JSON.parse(bytes.subarray(44, 44 + len).toString('utf8')) as WindowsState;
}

describe('windowsImage clean image', () => {
  let lab: BuildLab;
  let cloud: OpenStackCloud;

  before(async () => {
    lab = await startBuildLab();
    cloud = lab.openstack.open();
  });

  test('the sysprepped image holds none of the build access or files, the answer ISO went before the snapshot; every pre-sysprep check fired and was fixed', async (t) => {
    const handle = await lab.client.workflow.start('windowsImage', {
      taskQueue: lab.taskQueue,
      workflowId: `windows-clean-${randomUUID().slice(0, 8)}`,
      args: [await windowsInput(lab, 'win-clean')],
    });
    // Once the guest runs its last reboot-free steps: every state behind a common sysprep failure.
    const vm = await buildVm(await labConnection(lab), identityOf(handle));
    await waitForProgress(handle, (p) => p.steps.some((x) => x.step === 'administrator' && x.status === 'done'));
    lab.guests.inject({ kind: 'sysprep-appx', vm, package: APPX });
    lab.guests.inject({ kind: 'sysprep-reserved-storage', vm });
    lab.guests.inject({
      kind: 'pre-sysprep-state',
      vm,
      state: {
        pendingFileRenames: ['C:\\Windows\\System32\\drivers\\xenvif.sys'],
        updateRebootRequired: true,
        updatesInstallingMs: 20_000,
        bitlocker: true,
      },
    });
    const result = (await handle.result()) as {
      imageId: string;
      cleanImage: { remoteAccess: string; answerMedia: string[]; removed: string[]; sealed: boolean };
      preSysprepChecks: Array<{ check: string; outcome: string; detail: string }>;
      sysprepAttempts: Array<{ outcome: string }>;
      smallerImage: { cleared: string[] };
    };
    assert.deepEqual(
      Object.fromEntries(result.preSysprepChecks.map((c) => [c.check, c.outcome])),
      {
        'updates-installing': 'fixed',
        'pending-reboot': 'fixed',
        appx: 'fixed',
        bitlocker: 'fixed',
        'reserved-storage': 'clear',
      },
      JSON.stringify(result.preSysprepChecks),
    );
    assert.deepEqual(
      result.sysprepAttempts.map((a) => a.outcome),
      ['succeeded'],
      'sysprep generalized at the first attempt',
    );
    assert.equal(result.cleanImage.remoteAccess, 'none');
    assert.equal(result.cleanImage.answerMedia.length, 1, 'the answer ISO was ejected and destroyed');
    assert.ok(result.cleanImage.removed.includes('C:\\Windows\\Panther\\unattend.xml'));
    assert.ok(result.cleanImage.removed.includes('LocalAccountTokenFilterPolicy'));
    assert.equal(result.cleanImage.sealed, true);
    // Smaller images (windows-0010): Setup's temporary file and the CBS log went before the snapshot.
    for (const f of ['C:\\Windows\\Temp\\MpSigStub.log', 'C:\\Windows\\Logs\\CBS\\CBS.log'])
      assert.ok(result.smallerImage.cleared.includes(f), `${f} cleared (${result.smallerImage.cleared.join(', ')})`);

    const progress = await handle.query<BuildProgress>('progress');
    assert.deepEqual(progress.preSysprepChecks, result.preSysprepChecks, 'the checks are in the progress');
    const steps = progress.steps.map((s) => s.step);
    for (const [before, after] of [
      ['cloudbase-init', 'eject answer ISO'],
      ['eject answer ISO', 'remove build files'],
      ['remove build files', 'pre-sysprep checks'],
      ['pre-sysprep checks', 'clear caches and logs'],
      ['clear caches and logs', 'snapshot'],
      ['sysprep', 'seal and shut down'],
      ['seal and shut down', 'wait for halt'],
      ['wait for halt', 'export and upload'],
    ])
      assert.ok(
        steps.indexOf(before!) >= 0 && steps.indexOf(before!) < steps.indexOf(after!),
        `${before} before ${after}`,
      );

    const s = await imageState(cloud, result.imageId, await tempDir(t));
    const imageState_ =
      s.registry['HKLM\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION\\SETUP\\STATE']?.ImageState?.data;
    assert.equal(imageState_, 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', 'the image is the sysprepped one');
    assert.deepEqual(s.winrm, {
      http: false,
      httpsThumbprint: null,
      basic: false,
      allowUnencrypted: false,
      firewall: [],
    });
    assert.deepEqual(s.certificates, {}, 'no certificate, no private key');
    const rules = Object.values(s.registry[FIREWALL_RULES_KEY.toUpperCase()] ?? {}).map((v) => String(v.data));
    assert.ok(!rules.some((r) => r.includes('Name=xenimage ')), `no build firewall rule (${rules.join(' ; ')})`);
    assert.ok(!rules.some((r) => r.includes('Active=TRUE') && /LPort=598[56]\|/.test(r)), 'no open WinRM rule');
    const policy = s.registry['HKLM\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION\\POLICIES\\SYSTEM'] ?? {};
    assert.ok(!Object.keys(policy).some((k) => k.toLowerCase() === 'localaccounttokenfilterpolicy'));
    assert.equal(s.services.winrm?.startType, 'DEMAND_START');
    assert.ok(!s.appx.some((p) => p.fullName === APPX), 'the unprovisioned package is gone');
    assert.equal(s.bitlocker, undefined, 'C: is decrypted');
    for (const file of [
      'c:\\windows\\panther\\unattend.xml',
      'c:\\windows\\temp\\xenimage-pvtools.status',
      'c:\\windows\\temp\\mpsigstub.log',
      'c:\\windows\\logs\\cbs\\cbs.log',
    ])
      assert.equal(s.files[file], undefined, `${file} is not in the image`);
  });

  test('a seal that fails leaves the guest up: the build fails typed (SealFailed), publishes nothing', async () => {
    const world = await fakeWorld(await testTemporal(), {
      waitForHalt: async () => {
        throw ApplicationFailure.nonRetryable('the VM did not halt in time', 'XapiWaitTimeout');
      },
    });
    const client = await testClient(await testTemporal());
    const handle = await client.workflow.start('windowsImage', {
      taskQueue: world.taskQueue,
      workflowId: `seal-fails-${randomUUID().slice(0, 8)}`,
      args: [
        {
          pool: world.pool,
          installIso: 'install.iso',
          administrator: { name: 'builder', password: { secret: 'builder-admin' } },
          pvTools: { path: '/srv/tools.msi', sha256: '0'.repeat(64) },
          cloudbaseInit: { path: '/srv/cbi.msi', sha256: '0'.repeat(64) },
          image: { name: 'fake-windows' },
          cloud: 'fake-cloud',
          guestRemoteAccess: 'winrm-https',
        },
      ],
    });
    await assert.rejects(handle.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.equal(failure?.type, 'SealFailed');
      assert.match(failure.message, /did not halt .* after the seal/);
      return true;
    });
    const seals = world.called('sealGuest') as Array<{ remoteAccess: string }>;
    assert.deepEqual(
      seals.map((x) => x.remoteAccess),
      ['winrm-https'],
    );
    assert.deepEqual(world.called('exportToGlance'), [], 'nothing was published');
    assert.equal(world.called('cleanupByTag').length, 1, 'the build cleaned up');
  });
});
