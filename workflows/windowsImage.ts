// The Windows image (ARCHITECTURE.md §2), step by step: install from ISO with generated answer media, PV tools,
// platform:device_id, an extra administrator, cloudbase-init, a snapshot, sysprep (retried from the snapshot),
// then the system disk as a tap VHD tarball in Glance, verified; everything the build made is cleaned up.
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { REMEDY_NAME, type SysprepAttemptRecord } from '../src/contracts/messages.js';
import { imageProperties } from '../src/contracts/imageSpec.js';
import { durationMs } from '../src/contracts/duration.js';
import { WindowsImageInputSchema } from '../src/contracts/windowsInput.js';
import { abandonUpdate, retrySysprepUpdate } from './messages.js';
import { failBuild, firstPoolCall, startPoolBuild } from './steps.js';

export interface WindowsImageResult {
  imageId: string;
  reused: boolean;
  vm: string;
  deviceId: { wasSet: boolean; value?: string };
  pvDrivers: Record<string, string>;
  sysprepAttempts: SysprepAttemptRecord[];
  virtualSize: number;
  tgzBytes: number;
  checksum: string;
  verified: boolean;
  cleanedUp: { vms: number; vdis: number };
}

type OperatorDecision = { kind: 'retry'; remedy?: string } | { kind: 'abandon'; reason?: string };

/** The failure a sysprep attempt ended with, when it is a typed sysprep failure. */
function sysprepFailure(
  err: unknown,
): { type: string; message: string; details?: Record<string, unknown> } | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure) || !cause.type?.startsWith('Sysprep')) return undefined;
  const details = cause.details?.[0];
  return {
    type: cause.type,
    message: cause.message,
    details: details && typeof details === 'object' ? (details as Record<string, unknown>) : undefined,
  };
}

/** Remedies the engine applies on its own (windows-guest.md §4.4); anything else waits for the operator. */
function knownRemedy(type: string): string | undefined {
  if (type === 'SysprepAppxFailure') return 'remove-appx';
  if (type === 'SysprepReservedStorage') return 'reboot';
  if (type === 'SysprepUndeployable') return 'none';
  return undefined;
}

export async function windowsImage(rawInput: unknown): Promise<WindowsImageResult> {
  const { build, input, general, xen, waits, saga } = startPoolBuild('windows', WindowsImageInputSchema, rawInput);
  const { pool, cloud } = input;
  const sysprepAttempts: SysprepAttemptRecord[] = [];
  build.progress.sysprepAttempts = sysprepAttempts;

  let decision: OperatorDecision | undefined;
  const requireAwaitingOperator = () => {
    if (build.progress.state !== 'awaiting-operator') throw new Error('this build is not waiting for an operator');
  };
  setHandler(
    retrySysprepUpdate,
    (req) => {
      decision = { kind: 'retry', ...(req.remedy ? { remedy: req.remedy } : {}) };
      return { accepted: true as const, attempt: sysprepAttempts.length + 1 };
    },
    {
      description:
        'Retry sysprep from the pre-sysprep snapshot, optionally with a remedy: remove-appx, reboot, none or script:<name>',
      validator: (req) => {
        requireAwaitingOperator();
        if (req?.remedy !== undefined && !REMEDY_NAME.test(req.remedy))
          throw new Error(`unknown remedy "${req.remedy}": remove-appx, reboot, none or script:<name>`);
      },
    },
  );
  setHandler(
    abandonUpdate,
    (req) => {
      decision = { kind: 'abandon', ...(req?.reason ? { reason: req.reason } : {}) };
      return { accepted: true as const };
    },
    {
      description: 'Give up this build: clean up everything it made',
      validator: (_req) => requireAwaitingOperator(),
    },
  );

  try {
    // Nothing below creates anything until every name and secret is known to exist.
    await build.step(
      'validate targets',
      () =>
        firstPoolCall(pool, input.tuning, (probe) =>
          probe.validateTargets({ pool, sr: input.sr, network: input.network, isos: [input.installIso] }),
        ),
      (t) => `SR ${t.sr.name}, network ${t.network.name}`,
    );
    const secrets = [input.administrator.password, ...(input.windows.productKey ? [input.windows.productKey] : [])];
    await build.step('check secrets', () => xen.checkSecrets({ refs: secrets }));
    await build.step('check cloud', () => general.checkCloud({ cloud }));

    saga.add('delete the Glance image', () => general.deleteBuildImage({ cloud }));
    saga.add('destroy the build VM, snapshots, disks and answer ISO', () => xen.cleanupByTag({ pool }));
    saga.add('forget the generated secrets', () => xen.forgetBuildSecrets());

    const media = await build.step('answer media', () =>
      waits.prepareAnswerMedia({
        pool,
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
        pvTools: input.pvTools,
        cloudbaseInit: input.cloudbaseInit,
      }),
    );
    const created = await build.step(
      'create VM',
      () =>
        xen.createVm({
          pool,
          name: `xenimage ${input.image.name}`,
          description: `xenimage build ${workflowInfo().workflowId}`,
          memoryMiB: input.vm.memoryMiB,
          vcpus: input.vm.vcpus,
          diskGiB: input.vm.diskGiB,
          sr: input.sr,
          network: input.network,
          firmware: input.windows.firmware,
        }),
      (v) => `VM ${v.uuid}`,
    );
    const vm = created.vm;
    await build.step('attach media', () =>
      xen.attachMedia({ pool, vm, installIso: input.installIso, answerIso: media.vdi }),
    );
    await build.step('start', () => xen.startVm({ pool, vm }));
    const installTimeoutMs = durationMs(input.timeouts.install);
    const installed = await build.step(
      'install Windows',
      () => waits.waitForGuest({ pool, vm, timeoutMs: installTimeoutMs }),
      (g) => `guest at ${g.ip}`,
    );

    const guestAt = (address: string) => ({
      address,
      port: media.winrm.port,
      https: media.winrm.https,
      ...(media.winrm.certificatePem ? { certificatePem: media.winrm.certificatePem } : {}),
      username: 'Administrator',
      password: media.adminPassword,
    });
    let guest = guestAt(installed.ip);
    await build.step('WinRM', () => waits.waitForWinrm({ guest, timeoutSec: installTimeoutMs / 1000 }));
    await build.step('PV tools', () => waits.ensurePvTools({ guest, volumeLabel: media.volumeLabel }));

    const deviceId = await build.step(
      'device_id',
      () => xen.removeDeviceId({ pool, vm }),
      (d) => (d.wasSet ? `removed ${d.value}` : 'not set'),
    );
    let pvDrivers = installed.pvDriversVersion;
    if (deviceId.wasSet) {
      // Platform changes apply at the next start: the drivers must bind again to device 0001.
      await build.step('restart for device_id', async () => {
        await xen.cleanShutdown({ pool, vm });
        await xen.startVm({ pool, vm });
      });
      const again = await build.step(
        're-check PV drivers',
        () => waits.waitForGuest({ pool, vm, timeoutMs: installTimeoutMs }),
        (g) => `drivers ${Object.values(g.pvDriversVersion).join('.')}`,
      );
      pvDrivers = again.pvDriversVersion;
      guest = guestAt(again.ip);
      await build.step('WinRM after restart', () => waits.waitForWinrm({ guest }));
    }

    await build.step(
      'administrator',
      () => waits.addAdministrator({ guest, name: input.administrator.name, password: input.administrator.password }),
      (a) => (a.created ? `created ${a.name}` : `${a.name} existed`),
    );
    await build.step('cloudbase-init', () => waits.installCloudbaseInit({ guest, volumeLabel: media.volumeLabel }));
    const snapshot = await build.step('snapshot', () => xen.snapshot({ pool, vm, name: 'pre-sysprep' }));

    // Sysprep: known failures are remedied and retried from the snapshot; the rest waits for the operator.
    let remedy: string | undefined;
    let lastFailure: { type: string; details?: Record<string, unknown> } | undefined;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        await build.step(
          'revert to snapshot',
          async () => {
            await xen.hardShutdown({ pool, vm });
            await xen.revert({ pool, snapshot: snapshot.snapshot });
            await xen.startVm({ pool, vm });
          },
          undefined,
          attempt,
        );
        const back = await build.step(
          'wait for guest',
          () => waits.waitForGuest({ pool, vm, timeoutMs: installTimeoutMs }),
          undefined,
          attempt,
        );
        guest = guestAt(back.ip);
        await build.step('WinRM', () => waits.waitForWinrm({ guest }), undefined, attempt);
        if (remedy && remedy !== 'none') {
          const chosen = remedy;
          await build.step(
            'remedy',
            () => waits.applySysprepRemedy({ guest, remedy: chosen, failure: lastFailure }),
            (r) => r.applied,
            attempt,
          );
        }
      }
      try {
        await build.step(
          'sysprep',
          () => waits.runSysprep({ guest, shutdown: true, timeoutSec: durationMs(input.timeouts.sysprep) / 1000 }),
          (r) => r.imageState,
          attempt,
        );
        sysprepAttempts.push({ attempt, outcome: 'succeeded', ...(remedy ? { remedy } : {}) });
        break;
      } catch (err) {
        const failure = sysprepFailure(err);
        if (!failure) throw err;
        const excerpt = Array.isArray(failure.details?.log) ? (failure.details.log as string[]) : undefined;
        sysprepAttempts.push({
          attempt,
          outcome: 'failed',
          failureType: failure.type,
          ...(excerpt ? { pantherExcerpt: excerpt } : {}),
          ...(remedy ? { remedy } : {}),
        });
        lastFailure = { type: failure.type, ...(failure.details ? { details: failure.details } : {}) };
        const known = knownRemedy(failure.type);
        if (known !== undefined && attempt < input.sysprep.maxAttempts) {
          remedy = known;
          continue;
        }
        if (input.sysprep.onUnknownFailure === 'fail') throw err;
        decision = undefined;
        build.setState(
          'awaiting-operator',
          `sysprep attempt ${attempt} failed (${failure.type}): update retrySysprep {remedy?} or abandon`,
        );
        const decided = await condition(() => decision !== undefined, durationMs(input.sysprep.operatorTimeout));
        build.setState('running');
        const chosen = decision as OperatorDecision | undefined;
        if (!decided || !chosen)
          throw ApplicationFailure.nonRetryable(
            `no operator decision within ${input.sysprep.operatorTimeout} after sysprep failed (${failure.type})`,
            'OperatorTimeout',
          );
        if (chosen.kind === 'abandon')
          throw ApplicationFailure.nonRetryable(
            `abandoned by the operator${chosen.reason ? `: ${chosen.reason}` : ''}`,
            'Abandoned',
          );
        remedy = chosen.remedy ?? known ?? 'none';
      }
    }

    await build.step('wait for halt', () =>
      waits.waitForHalt({ pool, vm, timeoutMs: durationMs(input.timeouts.halt) }),
    );
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
          image: input.image,
          properties: imageProperties(input.image, 'hvm', 'windows', {
            xenimage_windows_image: input.windows.imageName ?? String(input.windows.imageIndex ?? 1),
          }),
        }),
      (p) => `image ${p.imageId}${p.reused ? ' (reused)' : ''}`,
    );
    const verified = await build.step(
      'verify',
      () => general.verifyImage({ cloud, imageId: published.imageId, expectedVirtualSize: disk.virtualSize }),
      (r) => `0.vhd ${r.vhdBytes} bytes`,
    );
    // The image is the product; the VM, its snapshot, disks, answer ISO and secrets are scaffolding.
    const cleaned = await build.step(
      'cleanup',
      () => xen.cleanupByTag({ pool }),
      (c) => `${c.vms.length} VMs, ${c.vdis.length} VDIs removed`,
    );
    await xen.forgetBuildSecrets();
    build.setState('succeeded');
    await condition(allHandlersFinished);
    return {
      imageId: published.imageId,
      reused: published.reused,
      vm: created.uuid,
      deviceId,
      pvDrivers,
      sysprepAttempts,
      virtualSize: verified.virtualSize,
      tgzBytes: published.tgzBytes,
      checksum: published.checksum,
      verified: true,
      cleanedUp: { vms: cleaned.vms.length, vdis: cleaned.vdis.length },
    };
  } catch (err) {
    throw await failBuild(build, saga, err, {
      keepOnFailure: input.keepOnFailure,
      listLeftovers: async () => [...(await xen.listTagged({ pool })), ...(await general.listBuildImages({ cloud }))],
    });
  }
}
