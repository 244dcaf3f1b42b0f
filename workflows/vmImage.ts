// An existing XenServer VM → Glance: find the VM, shut it down cleanly within a bound (hard only when the input
// allows it), export its system disk through the shared image set (optionally normalised through an EXT SR, as
// the classic recipe does), publish with vm_mode from the VM, verify — the commit point — and bring the VM back to
// the power state it had.
import { ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import type { ImageVerification } from '../activities/index.js';
import { durationMs } from '../src/contracts/duration.js';
import { imageProperties } from '../src/contracts/imageSpec.js';
import { VmImageInputSchema } from '../src/contracts/vmImageInput.js';
import { failureText } from './build/failures.js';
import { firstPoolCall } from './build/proxies.js';
import { failBuild } from './build/saga.js';
import { startPoolBuild } from './build/start.js';

export interface VmImageResult {
  imageId: string;
  reused: boolean;
  vm: string;
  vmMode: 'hvm' | 'xen';
  shutdown: 'already-halted' | 'clean' | 'hard';
  normalized: boolean;
  virtualSize: number;
  tgzBytes: number;
  checksum: string;
  /** The verification that ran on the image as Glance holds it. */
  verified: ImageVerification;
  /** Failures after the image was verified (cleanup, restarting the VM): the image stands. */
  warnings: string[];
}

export async function vmImage(rawInput: unknown): Promise<VmImageResult> {
  const { build, input, id, general, xen, waits, saga } = startPoolBuild('from-vm', VmImageInputSchema, rawInput);
  const { pool, cloud } = input;
  try {
    const vm = await build.step(
      'find VM',
      () => firstPoolCall(pool, input.tuning, (probe) => probe.findVm({ pool, vm: input.vm })),
      (v) => `${v.name} (${v.powerState}, ${v.vmMode})`,
    );
    if (!vm.systemDisk)
      throw ApplicationFailure.nonRetryable(
        `VM ${vm.name} has no system disk (no Disk VBD at userdevice 0)`,
        'InvalidInput',
      );
    await build.step('check cloud', () => general.checkCloud({ cloud }));

    let shutdown: VmImageResult['shutdown'] = 'already-halted';
    if (vm.powerState !== 'Halted') {
      // The operator's VM goes back to running whatever happens next, even when the build's leftovers are kept.
      saga.add('start the VM again', () => xen.startVm({ pool, vm: vm.ref }), { evenWhenKept: true });
      shutdown = await build.step(
        'shut down',
        async () => {
          try {
            // A wait that heartbeats (the timeout may be longer than a quick call's).
            await CancellationScope.withTimeout(durationMs(input.shutdown.timeout), () =>
              waits.cleanShutdown({ pool, vm: vm.ref }),
            );
            return 'clean' as const;
          } catch (err) {
            if (isCancellation(err) && CancellationScope.current().consideredCancelled) throw err;
            if (!input.shutdown.allowHard) {
              throw ApplicationFailure.nonRetryable(
                `VM ${vm.name} did not shut down cleanly within ${input.shutdown.timeout} (${failureText(err)}); set shutdown.allowHard to power it off`,
                'ShutdownFailed',
              );
            }
            await xen.hardShutdown({ pool, vm: vm.ref });
            return 'hard' as const;
          }
        },
        (s) => s,
      );
    }

    saga.add('delete the Glance image', () => general.deleteBuildImage({ cloud, build: id }));
    saga.add('destroy what the build made in the pool', () => xen.cleanupByTag({ pool, build: id }));
    const disk = await build.step(
      'find system disk',
      () => xen.findSystemDisk({ pool, vm: vm.ref }),
      (d) => `${d.virtualSize} bytes`,
    );
    let vdi = disk.vdi;
    if (input.normalize === 'xapi') {
      const normalized = await build.step(
        'normalize through an EXT SR',
        () => waits.normalizeVdi({ pool, build: id, vdi: disk.vdi, sr: input.normalizeSr }),
        (n) => `via ${n.sr}`,
      );
      vdi = normalized.vdi;
    } else {
      build.skip('normalize through an EXT SR', 'normalize is "none": the native tap writer is used');
    }
    const published = await build.step(
      'export and upload',
      () =>
        waits.exportToGlance({
          pool,
          vdi,
          cloud,
          build: id,
          image: input.image,
          properties: imageProperties(input.image, vm.vmMode, input.osType, { xenimage_source_vm: vm.uuid }),
          compressionLevel: input.compressionLevel,
        }),
      (p) => `image ${p.imageId}${p.reused ? ' (reused)' : ''}`,
    );
    const verified = await build.step(
      'verify',
      () => general.verifyImage({ cloud, imageId: published.imageId, expectedVirtualSize: disk.virtualSize }),
      (r) => `0.vhd ${r.vhdBytes} bytes`,
    );
    // The commit point: the image is the product. What follows can only warn.
    saga.commit();
    await build.afterCommit('cleanup', () => xen.cleanupByTag({ pool, build: id }));
    if (shutdown !== 'already-halted')
      await build.afterCommit('restart the VM', () => xen.startVm({ pool, vm: vm.ref }));
    build.setState('succeeded');
    return {
      imageId: published.imageId,
      reused: published.reused,
      vm: vm.uuid,
      vmMode: vm.vmMode,
      shutdown,
      normalized: input.normalize === 'xapi',
      virtualSize: verified.virtualSize,
      tgzBytes: published.tgzBytes,
      checksum: published.checksum,
      verified,
      warnings: build.warnings,
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
