// HVM or PV: decides qemu (device model, emulated devices, UEFI) versus a PV boot.

/** HVM (qemu, emulated devices) or PV; `unspecified` follows HVM_boot_policy as XAPI does. */
export function isHvm(vm: Record<string, unknown>): boolean {
  if (vm.domain_type === 'hvm') return true;
  if (vm.domain_type === 'pv' || vm.domain_type === 'pv_in_pvh' || vm.domain_type === 'pvh') return false;
  return vm.HVM_boot_policy !== '';
}
