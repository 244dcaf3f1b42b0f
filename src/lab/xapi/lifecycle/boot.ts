// What VM.start checks and writes before the domain is built (xapi_vm.ml start, xapi_xenops.ml, vm_platform.ml
// sanity_check), in XAPI's order: the firmware (and NVRAM on-boot mode), the platform's device model and
// `secureboot=auto` written back as literals, the device-model/firmware pairing, cores-per-socket, a BIOS VM with
// a VTPM refused, and the VTPM `platform:vtpm=true` asks for. Then, at the domain's start, what varstored does to
// the NVRAM of a UEFI guest.
import type { LabCore } from '../api/context.js';
import { apiError } from '../api/errors.js';
import { isHvm } from './hvm.js';
import { firmwareOf, initialVarstore, platformFlag } from './uefi.js';
import { createVtpm } from './vtpm.js';

const DEVICE_MODEL_BIOS = 'qemu-upstream-compat';
const DEVICE_MODEL_UEFI = 'qemu-upstream-uefi';

function poolHasUefiCertificates(core: LabCore): boolean {
  return (core.db.get('pool', core.poolRef)?.uefi_certificates ?? '') !== '';
}

export function prepareBoot(core: LabCore, vmRef: string): void {
  const { db } = core;
  const vm = db.require('VM', vmRef);
  const firmware = firmwareOf(vm);
  const hvm = isHvm(vm);
  const platform = { ...(vm.platform as Record<string, string>) };
  const defaultModel = firmware === 'uefi' ? DEVICE_MODEL_UEFI : DEVICE_MODEL_BIOS;
  // ensure_device_model_profile_present: added when absent, qemu-trad upgraded; only domains that run qemu.
  if (hvm && (platform['device-model'] === undefined || platform['device-model'] === 'qemu-trad'))
    platform['device-model'] = defaultModel;
  if (platform.secureboot === 'auto') platform.secureboot = String(poolHasUefiCertificates(core));
  if (JSON.stringify(platform) !== JSON.stringify(vm.platform)) db.set('VM', vmRef, { platform });

  if (platform['device-model'] === DEVICE_MODEL_UEFI && firmware === 'bios')
    throw apiError('INVALID_VALUE', 'platform:device-model', 'BIOS boot is not supported with qemu-upstream-uefi');
  if (platform['device-model'] === 'qemu-trad' && firmware === 'uefi')
    throw apiError('INVALID_VALUE', 'platform:device-model', 'UEFI boot is not supported with qemu-trad');
  const cps = Number(platform['cores-per-socket'] ?? '1');
  if (hvm && Number.isInteger(cps) && cps > 0 && (vm.VCPUs_max as number) % cps !== 0)
    throw apiError('VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE', vm.VCPUs_max as number, cps);
  const vtpms = vm.VTPMs as string[];
  if (firmware === 'bios' && vtpms.length > 0) throw apiError('NOT_IMPLEMENTED', 'Booting BIOS VM with VTPMs attached');
  // platform:vtpm only matters while the VM has no VTPM (tpm_of_vm); XAPI before the VTPM class ignores it.
  if (vtpms.length === 0 && platformFlag(platform, 'vtpm') && core.product.vtpm === 'current')
    createVtpm(core, vmRef, false);
}

/**
 * varstored at a UEFI domain's start: a VM without a variable store (first boot, or `EFI-variables-on-boot` =
 * reset) gets one, holding the pool's Secure Boot keys when Secure Boot is on; an existing store is kept as it is.
 */
export function seedNvram(core: LabCore, vmRef: string): void {
  const { db } = core;
  const vm = db.require('VM', vmRef);
  if ((vm.HVM_boot_params as Record<string, string>).firmware !== 'uefi' || !isHvm(vm)) return;
  const nvram = vm.NVRAM as Record<string, string>;
  if (nvram['EFI-variables'] !== undefined && nvram['EFI-variables-on-boot'] !== 'reset') return;
  const secureBoot = platformFlag(vm.platform as Record<string, string>, 'secureboot');
  db.set('VM', vmRef, {
    NVRAM: { ...nvram, 'EFI-variables': initialVarstore(secureBoot, poolHasUefiCertificates(core)) },
  });
}
