// The Windows image, step by step: install from ISO with generated answer media, PV tools, platform:device_id,
// an extra administrator, cloudbase-init, a snapshot, sysprep (retried from the snapshot: windows/sysprepLoop.ts),
// the guest's logs, then the system disk as a tap VHD tarball in Glance, verified — the commit point — and the
// build's scaffolding cleaned up. Each step's activity is in activities/, its work in src/.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
} from '@temporalio/workflow';
import type { GuestConnection, ImageVerification } from '../activities/index.js';
import type { PvToolsInstaller } from '../src/windows/guest/pvTools.js';
import { pvToolsConflicts, vendorDeviceFor } from '../src/windows/pvToolsPackage.js';
import { durationMs } from '../src/contracts/duration.js';
import { imageProperties } from '../src/contracts/imageSpec.js';
import type { GuestLogCollection, PreSysprepCheckRecord, SysprepAttemptRecord } from '../src/contracts/messages.js';
import { pvToolsInstaller, pvToolsKindFor } from '../src/contracts/pvToolsInput.js';
import type { HookRunRecord } from '../src/contracts/windowsGuestInput.js';
import { WindowsImageInputSchema } from '../src/contracts/windowsInput.js';
import {
  detectRelease,
  missingForRelease,
  platformImageProperties,
  type PlatformChoice,
  type PlatformResult,
} from '../src/contracts/windowsPlatform.js';
import { failureText } from './build/failures.js';
import { firstPoolCall } from './build/proxies.js';
import { failBuild } from './build/saga.js';
import { startPoolBuild } from './build/start.js';
import { cleanBeforeSnapshot, sealAndHalt, type CleanImageRecord } from './windows/cleanImage.js';
import { GuestLogBook } from './windows/guestLogs.js';
import { Hooks } from './windows/hooks.js';
import { preSysprepChecks } from './windows/preSysprepChecks.js';
import { SysprepAttempts, sysprepUntilGeneralized } from './windows/sysprepLoop.js';
import { installUpdates, type UpdatesRecord } from './windows/updates.js';

export interface WindowsImageResult {
  imageId: string;
  reused: boolean;
  vm: string;
  /** platform:device_id as the PV tools left it. */
  deviceId: { wasSet: boolean; value?: string };
  /** What the build did with it, by the input's vm.deviceId; `value` is what the image asks nova for. */
  deviceIdPolicy: { policy: 'remove' | 'keep' | '0002'; action: 'removed' | 'kept' | 'set' | 'none'; value?: string };
  pvDrivers: Record<string, string>;
  /** The tools' version and whether they predate the XSA-468 fixes (with what to install instead). */
  pvTools?: { version: string; vendor: string; xsa468Vulnerable: boolean | null; warning?: string };
  /** The MSI the build installed the tools from, its kind and the properties it passed. */
  pvToolsInstaller?: PvToolsInstaller;
  sysprepAttempts: SysprepAttemptRecord[];
  virtualSize: number;
  tgzBytes: number;
  checksum: string;
  /** The verification that ran on the image as Glance holds it. */
  verified: ImageVerification;
  /** What the cleanup removed; null when it failed (see warnings). */
  cleanedUp: { vms: number; vdis: number } | null;
  /** Failures after the image was verified: the image stands. */
  warnings: string[];
  guestLogs: GuestLogCollection[];
  /** Firmware, Secure Boot, vTPM, the release they were checked against, and the image's properties for them. */
  platform: PlatformResult;
  /** What the build removed of its own access and files (builds since the clean-image change). */
  cleanImage?: CleanImageRecord;
  /** The checks before the first sysprep attempt (absent when preSysprep.checks is off). */
  preSysprepChecks?: PreSysprepCheckRecord[];
  /** The operator's hooks that ran, with the last lines of their output. */
  hooks?: HookRunRecord[];
  /** Windows Update: the KBs installed per round, why the rounds stopped, the component clean-up. */
  updates?: UpdatesRecord;
  /** What the build cleared before the pre-sysprep snapshot, as the guest reported it (preSysprep.clearCaches). */
  smallerImage?: { cleared: string[] };
}

export async function windowsImage(rawInput: unknown): Promise<WindowsImageResult> {
  const { build, input, id, general, xen, waits, bestEffort, saga } = startPoolBuild(
    'windows',
    WindowsImageInputSchema,
    rawInput,
  );
  const { pool, cloud } = input;
  const attempts = new SysprepAttempts(build);
  const inputSecrets = [input.administrator.password, ...(input.windows.productKey ? [input.windows.productKey] : [])];
  const hooks = new Hooks(build, general, waits, input.hooks, inputSecrets);
  const logs = new GuestLogBook(build, bestEffort, inputSecrets);
  const installTimeoutMs = durationMs(input.timeouts.install);
  const platform: PlatformChoice = {
    firmware: input.windows.firmware,
    secureBoot: input.windows.secureBoot === true,
    vtpm: input.vm.vtpm === true,
  };
  const release = detectRelease({
    release: input.windows.release,
    imageName: input.windows.imageName,
    installIso: input.installIso,
  });
  // Checked with the input, before anything exists (docs/decisions/windows-0008-platform-requirements-by-release.md).
  const missing = missingForRelease(platform, release.release);
  if (missing.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${release.release} (from the ${release.from}) cannot be installed without ${missing.join(', ')}`,
      'PlatformRequirementsUnmet',
      { release: release.release, from: release.from, missing },
    );
  const platformProperties = platformImageProperties(platform);
  const windowsUpdateDrivers = input.pvTools.windowsUpdateDrivers === true;
  const toolsInstaller = pvToolsInstaller(input.pvTools);

  try {
    // Nothing below creates anything until every name and secret is known to exist and to be allowed.
    const targets = await build.step(
      'validate targets',
      () =>
        firstPoolCall(pool, input.tuning, (probe) =>
          probe.validateTargets({
            pool,
            sr: input.sr,
            network: input.network,
            isos: [input.installIso],
            // BIOS asks nothing of the pool beyond what every XAPI has.
            ...(platform.firmware === 'uefi' ? { platform } : {}),
            // No tools installer: the pool's tools ISO, found before anything is made.
            ...(toolsInstaller ? {} : { toolsIso: true }),
          }),
        ),
      (t) =>
        `SR ${t.sr.name}, network ${t.network.name}${t.platform ? `, ${t.platform.product}` : ''}${t.toolsIso ? `, tools ${t.toolsIso.name}` : ''}`,
    );
    const toolsKind = targets.toolsIso?.kind ?? pvToolsKindFor(input.pvTools) ?? 'xenserver';
    const toolsConflicts = pvToolsConflicts(toolsKind, { windowsUpdateDrivers });
    if (toolsConflicts.length > 0)
      throw ApplicationFailure.nonRetryable(
        `${targets.toolsIso ? `${targets.toolsIso.name}: ` : ''}${toolsConflicts.join('; ')}`,
        'InvalidInput',
      );
    await build.step('check secrets', () => xen.checkSecrets({ refs: inputSecrets }));
    const hooksOn = patched('hooks');
    if (hooksOn) await hooks.check();
    // Builds recorded before this step existed replay without it.
    if (patched('check-installers')) {
      await build.step('check installers', () =>
        xen.checkInstallers({ pvTools: toolsInstaller, cloudbaseInit: input.cloudbaseInit }),
      );
    }
    await build.step('check cloud', () => general.checkCloud({ cloud }));

    saga.add('delete the Glance image', () => general.deleteBuildImage({ cloud, build: id }));
    saga.add('destroy the build VM, snapshots, disks and answer ISO', () => xen.cleanupByTag({ pool, build: id }));
    // The answer ISO holds the generated password and the listener key: it goes even when the rest is kept.
    saga.add('discard the answer ISO', () => xen.discardAnswerMedia({ pool, build: id }), { evenWhenKept: true });

    const media = await build.step('answer media', () =>
      waits.prepareAnswerMedia({
        pool,
        build: id,
        sr: input.sr,
        firmware: input.windows.firmware,
        image:
          input.windows.imageName !== undefined
            ? { name: input.windows.imageName }
            : { index: input.windows.imageIndex ?? 1 },
        productKey: input.windows.productKey,
        computerName: input.windows.computerName,
        timeZone: input.windows.timeZone,
        locale: input.windows.locale,
        isolatedNetwork: input.winrm.isolatedNetwork,
        pvTools: toolsInstaller,
        pvToolsKind: toolsKind,
        windowsUpdateDrivers,
        cloudbaseInit: input.cloudbaseInit,
      }),
    );
    const created = await build.step(
      'create VM',
      () =>
        xen.createVm({
          pool,
          build: id,
          name: `xenimage ${input.image.name}`,
          description: `xenimage build ${id}`,
          memoryMiB: input.vm.memoryMiB,
          vcpus: input.vm.vcpus,
          diskGiB: input.vm.diskGiB,
          sr: input.sr,
          network: input.network,
          firmware: input.windows.firmware,
          secureBoot: platform.secureBoot,
          vtpm: platform.vtpm,
          // Off before the first boot unless XenServer's Windows Update driver delivery is asked for.
          vendorDevice: vendorDeviceFor(toolsKind, { windowsUpdateDrivers }),
        }),
      (v) => `VM ${v.uuid}${v.vtpm ? `, VTPM ${v.vtpm.uuid}` : ''}`,
    );
    const vm = created.vm;
    await build.step('attach media', () =>
      xen.attachMedia({
        pool,
        vm,
        installIso: input.installIso,
        answerIso: media.vdi,
        ...(targets.toolsIso ? { toolsIso: targets.toolsIso.vdi } : {}),
      }),
    );
    await build.step('start', () => xen.startVm({ pool, vm }));
    const installed = await build.step(
      'install Windows',
      () => waits.waitForGuest({ pool, vm, timeoutMs: installTimeoutMs }),
      (g) => `guest at ${g.ip}`,
    );

    const guestAt = (address: string): GuestConnection => ({
      address,
      port: media.winrm.port,
      https: media.winrm.https,
      ...(media.winrm.certificatePem ? { certificatePem: media.winrm.certificatePem } : {}),
      username: 'Administrator',
      password: media.adminPassword,
      // A reboot inside a guest step reads the new address from the agent's report: addresses move at every boot.
      locate: { pool, vm },
    });
    let guest: GuestConnection = guestAt(installed.ip);
    await build.step('WinRM', () => waits.waitForWinrm({ guest, timeoutSec: installTimeoutMs / 1000 }));
    const tools = await build.step('PV tools', () =>
      waits.ensurePvTools({ guest, volumeLabel: media.volumeLabel, windowsUpdateDrivers }),
    );
    if (tools.address && tools.address !== guest.address) guest = guestAt(tools.address);

    // platform:device_id by the input's policy (docs/operator-guide.md §3); `remove` keeps its original step.
    const deviceIdPolicy = input.vm.deviceId ?? 'remove';
    const removal =
      deviceIdPolicy === 'remove'
        ? await build.step(
            'device_id',
            () => xen.removeDeviceId({ pool, vm }),
            (d) => (d.wasSet ? `removed ${d.value}` : 'not set'),
          )
        : undefined;
    const applied =
      deviceIdPolicy !== 'remove'
        ? await build.step(
            'device_id',
            () => xen.applyDeviceIdPolicy({ pool, vm, policy: deviceIdPolicy }),
            (d) => `${d.action}${d.value ? ` ${d.value}` : ''}`,
          )
        : undefined;
    const deviceId: WindowsImageResult['deviceId'] =
      removal ?? (applied?.previous !== undefined ? { wasSet: true, value: applied.previous } : { wasSet: false });
    const deviceIdOutcome: WindowsImageResult['deviceIdPolicy'] = applied
      ? { policy: applied.policy, action: applied.action, ...(applied.value ? { value: applied.value } : {}) }
      : { policy: 'remove', action: removal?.wasSet ? 'removed' : 'none' };
    const deviceIdProperties: Record<string, string> = deviceIdOutcome.value
      ? { xenapi_device_id: deviceIdOutcome.value }
      : {};
    let pvDrivers = installed.pvDriversVersion;
    let pvTools = installed.pvTools;
    if (removal ? removal.wasSet : applied?.changed) {
      // Platform changes apply at the next start: the drivers must bind again to the new platform device.
      await build.step('restart for device_id', async () => {
        await shutDownCleanly(() => waits.cleanShutdown({ pool, vm }), input.timeouts.shutdown);
        await xen.startVm({ pool, vm });
      });
      const again = await build.step(
        're-check PV drivers',
        () => waits.waitForGuest({ pool, vm, timeoutMs: installTimeoutMs }),
        (g) => `drivers ${Object.values(g.pvDriversVersion).join('.')}`,
      );
      pvDrivers = again.pvDriversVersion;
      pvTools = again.pvTools;
      guest = guestAt(again.ip);
      await build.step('WinRM after restart', () => waits.waitForWinrm({ guest }));
    }

    if (hooksOn) await hooks.run('afterInstall', guest);

    // Windows Update after the afterInstall hooks (they may point the guest at a WSUS) and before the extra
    // administrator and cloudbase-init (docs/decisions/windows-0009-windows-update.md).
    const updates =
      input.updates?.install && patched('windows-updates')
        ? await installUpdates({ build, waits, updates: input.updates, input }, guest, guestAt)
        : undefined;
    if (updates) guest = updates.guest;

    await build.step(
      'administrator',
      () => waits.addAdministrator({ guest, name: input.administrator.name, password: input.administrator.password }),
      (a) => (a.created ? `created ${a.name}` : `${a.name} existed`),
    );
    if (hooksOn) await hooks.run('beforeCloudbaseInit', guest);
    await build.step('cloudbase-init', () => waits.installCloudbaseInit({ guest, volumeLabel: media.volumeLabel }));
    const cleanSession = { build, xen, waits, pool, vm, id, input };
    const clean = patched('clean-image') ? await cleanBeforeSnapshot(cleanSession, guest) : undefined;
    if (hooksOn) await hooks.run('beforeSysprep', guest);
    const checked = patched('pre-sysprep-checks') ? await preSysprepChecks(build, waits, guest, input) : undefined;
    if (checked?.address && checked.address !== guest.address) guest = guestAt(checked.address);
    const checks = checked?.checks;
    // The last writes before the snapshot every sysprep attempt reverts to (windows-0010-smaller-images.md).
    const smaller =
      input.preSysprep.clearCaches && patched('smaller-images')
        ? await build.step(
            'clear caches and logs',
            () => waits.clearCaches({ guest }),
            (c) => `${c.cleared.length} removed`,
          )
        : undefined;
    const snapshot = await build.step('snapshot', () => xen.snapshot({ pool, build: id, vm, name: 'pre-sysprep' }));

    guest = await sysprepUntilGeneralized(
      { build, attempts, logs, xen, waits, pool, vm, id, snapshot: snapshot.snapshot, input, guestAt },
      guest,
    );
    await logs.collect('before shutdown', attempts.records.length, guest);
    if (clean) await sealAndHalt(cleanSession, guest, clean);
    else {
      await build.step('shutdown', () => waits.shutdownGuest({ guest }));
      await build.step('wait for halt', () =>
        waits.waitForHalt({ pool, vm, timeoutMs: durationMs(input.timeouts.halt) }),
      );
    }
    const disk = await build.step(
      'find system disk',
      () => xen.findSystemDisk({ pool, vm }),
      (d) => `${d.virtualSize} bytes`,
    );
    const published = await build.step(
      'export and upload',
      () =>
        waits.exportToGlance({
          pool,
          vdi: disk.vdi,
          cloud,
          build: id,
          image: input.image,
          properties: imageProperties(input.image, 'hvm', 'windows', {
            xenimage_windows_image: input.windows.imageName ?? String(input.windows.imageIndex ?? 1),
            ...platformProperties,
            ...deviceIdProperties,
          }),
        }),
      (p) => `image ${p.imageId}${p.reused ? ' (reused)' : ''}`,
    );
    const verified = await build.step(
      'verify',
      () => general.verifyImage({ cloud, imageId: published.imageId, expectedVirtualSize: disk.virtualSize }),
      (r) => `0.vhd ${r.vhdBytes} bytes`,
    );

    // The commit point: the image is the product. The VM, its snapshot, disks and answer ISO are scaffolding, and
    // a failure to remove them is a warning.
    saga.commit();
    const cleaned = await build.afterCommit(
      'cleanup',
      () => xen.cleanupByTag({ pool, build: id }),
      (c) => `${c.vms.length} VMs, ${c.vdis.length} VDIs removed`,
    );
    build.setState('succeeded');
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    return {
      imageId: published.imageId,
      reused: published.reused,
      vm: created.uuid,
      deviceId,
      deviceIdPolicy: deviceIdOutcome,
      pvDrivers,
      ...(pvTools ? { pvTools } : {}),
      ...(tools.installer ? { pvToolsInstaller: tools.installer } : {}),
      sysprepAttempts: attempts.records,
      virtualSize: verified.virtualSize,
      tgzBytes: published.tgzBytes,
      checksum: published.checksum,
      verified,
      cleanedUp: cleaned ? { vms: cleaned.vms.length, vdis: cleaned.vdis.length } : null,
      warnings: build.warnings,
      guestLogs: logs.all,
      platform: {
        ...platform,
        release: release.release,
        releaseFrom: release.from,
        vtpmUuid: created.vtpm?.uuid ?? null,
        imageProperties: platformProperties,
      },
      ...(clean ? { cleanImage: clean } : {}),
      ...(checks ? { preSysprepChecks: checks } : {}),
      ...(hooks.runs.length ? { hooks: hooks.runs } : {}),
      ...(updates ? { updates: updates.record } : {}),
      ...(smaller ? { smallerImage: { cleared: smaller.cleared } } : {}),
    };
  } catch (err) {
    throw await failBuild(build, saga, err, {
      keepOnFailure: input.keepOnFailure,
      listLeftovers: async () => [
        ...(await xen.listTagged({ pool, build: id })),
        ...(await general.listBuildImages({ cloud, build: id })),
      ],
    });
  }
}

/** A clean shutdown bounded by `timeout` (timeouts.shutdown); past it the build fails typed. */
async function shutDownCleanly(shutdown: () => Promise<unknown>, timeout: string): Promise<void> {
  try {
    await CancellationScope.withTimeout(durationMs(timeout), shutdown);
  } catch (err) {
    if (isCancellation(err) && CancellationScope.current().consideredCancelled) throw err;
    throw ApplicationFailure.nonRetryable(
      `the build VM did not shut down cleanly within ${timeout} (${failureText(err)})`,
      'ShutdownFailed',
    );
  }
}
