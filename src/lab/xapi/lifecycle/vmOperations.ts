// Whether a VM operation may run now, in the order XAPI checks it (xapi_vm_lifecycle.ml check_operation_error):
// blocked operations, power state, concurrent operations, template rules, snapshot rules, provision/revert
// preconditions, control domain, guest features, on_boot=reset disks. allowed_operations is the set of
// operations this check accepts in strict mode, as update_allowed_operations computes it.
import { apiError, type ApiError } from '../api/errors.js';
import type { Database, Row } from '../db/database.js';
import { enumValues } from '../datamodel/classes.js';
import { NULL_REF } from '../datamodel/types.js';

type PowerState = 'Halted' | 'Paused' | 'Suspended' | 'Running';

const ALL: PowerState[] = ['Halted', 'Paused', 'Suspended', 'Running'];

/** allowed_power_states, in XAPI's order (it is the order of the `expected` text of VM_BAD_POWER_STATE). */
export function allowedPowerStates(vm: Row, op: string): PowerState[] {
  switch (op) {
    case 'import':
      return [];
    case 'changing_VCPUs':
    case 'changing_static_range':
    case 'changing_memory_limits':
      return vm.is_control_domain === true ? ['Halted', 'Running'] : ['Halted'];
    case 'changing_shadow_memory':
    case 'changing_NVRAM':
    case 'make_into_template':
    case 'provision':
    case 'start':
    case 'start_on':
    case 'create_vtpm':
      return ['Halted'];
    case 'unpause':
      return ['Paused'];
    case 'csvm':
    case 'resume':
    case 'resume_on':
      return ['Suspended'];
    case 'awaiting_memory_live':
    case 'call_plugin':
    case 'clean_reboot':
    case 'clean_shutdown':
    case 'changing_memory_live':
    case 'changing_shadow_memory_live':
    case 'changing_VCPUs_live':
    case 'data_source_op':
    case 'pause':
    case 'pool_migrate':
    case 'send_sysrq':
    case 'send_trigger':
    case 'snapshot_with_quiesce':
    case 'sysprep':
    case 'suspend':
      return ['Running'];
    case 'changing_dynamic_range':
      return ['Halted', 'Running'];
    case 'clone':
    case 'copy':
      return vm.is_a_snapshot === true ? ['Halted', 'Suspended'] : ['Halted'];
    case 'create_template':
    case 'destroy':
    case 'export':
      return ['Halted', 'Suspended'];
    case 'hard_reboot':
      return ['Paused', 'Running'];
    case 'checkpoint':
    case 'get_boot_record':
    case 'shutdown':
    case 'hard_shutdown':
      return ['Paused', 'Suspended', 'Running'];
    case 'migrate_send':
      return ['Halted', 'Suspended', 'Running'];
    default:
      return ALL;
  }
}

function allowedConcurrently(op: string, current: string[]): boolean {
  const group = (ops: string[]) => ops.includes(op) && current.every((c) => ops.includes(c));
  if (group(['clone', 'copy', 'export']) || group(['snapshot', 'checkpoint']) || group(['get_boot_record']))
    return true;
  if (op === 'hard_shutdown') return !current.includes('hard_shutdown');
  if (op === 'hard_reboot') return !current.some((c) => c === 'hard_shutdown' || c === 'hard_reboot');
  const pairs: Array<[string, string]> = [
    ['snapshot_with_quiesce', 'snapshot'],
    ['migrate_send', 'metadata_export'],
    ['migrate_send', 'clean_shutdown'],
    ['migrate_send', 'clean_reboot'],
  ];
  return current.length === 1 && pairs.some(([state, next]) => current[0] === state && next === op);
}

const TEMPLATE_OPS = new Set([
  'changing_dynamic_range',
  'changing_static_range',
  'changing_memory_limits',
  'changing_shadow_memory',
  'changing_VCPUs',
  'changing_NVRAM',
  'clone',
  'copy',
  'export',
  'metadata_export',
  'provision',
]);
const SNAPSHOT_OPS = new Set(['revert', 'clone', 'copy', 'export', 'destroy', 'hard_shutdown', 'metadata_export']);

function hasFeature(gm: Row | undefined, feature: string): boolean {
  return (gm?.other as Record<string, string> | undefined)?.[feature] === '1';
}

function hasPvDrivers(gm: Row | undefined): boolean {
  const version = gm?.PV_drivers_version as Record<string, string> | undefined;
  return version !== undefined && version.major !== undefined && version.minor !== undefined;
}

function featureError(db: Database, vmRef: string, vm: Row, op: string, strict: boolean): ApiError | undefined {
  const live = vm.power_state === 'Running' || vm.power_state === 'Paused';
  const gm = vm.guest_metrics !== NULL_REF ? db.get('VM_guest_metrics', vm.guest_metrics as string) : undefined;
  const metrics = db.get('VM_metrics', vm.metrics as string);
  const bootedPv = ['pv', 'pv_in_pvh', 'pvh'].includes(metrics?.current_domain_type as string);
  const implicit = !live || bootedPv || hasPvDrivers(gm);
  const lacks = (f: string) => !hasFeature(gm, f);
  if (['suspend', 'checkpoint', 'pool_migrate', 'migrate_send'].includes(op) && live) {
    const reason = (gm?.other as Record<string, string> | undefined)?.['data-cant-suspend-reason'];
    if (reason !== undefined) return apiError('VM_NON_SUSPENDABLE', vmRef, reason);
    if (!implicit && strict && lacks('feature-suspend')) return apiError('VM_LACKS_FEATURE', vmRef);
    return undefined;
  }
  if (implicit) return undefined;
  if (op === 'clean_shutdown' && strict && lacks('feature-shutdown') && lacks('feature-poweroff'))
    return apiError('VM_LACKS_FEATURE', vmRef);
  if (op === 'clean_reboot' && strict && lacks('feature-shutdown') && lacks('feature-reboot'))
    return apiError('VM_LACKS_FEATURE', vmRef);
  if (op === 'changing_VCPUs_live' && lacks('feature-vcpu-hotplug')) return apiError('VM_LACKS_FEATURE', vmRef);
  return undefined;
}

/** The first reason `op` may not run on the VM now, or undefined. */
export function vmOperationError(db: Database, vmRef: string, op: string, strict = true): ApiError | undefined {
  const vm = db.require('VM', vmRef);
  const blocked = (vm.blocked_operations as Record<string, string>)[op];
  if (blocked !== undefined) return apiError('OPERATION_BLOCKED', vmRef, blocked);
  const power = vm.power_state as PowerState;
  const allowed = allowedPowerStates(vm, op);
  if (!allowed.includes(power))
    return apiError('VM_BAD_POWER_STATE', vmRef, allowed.map((s) => s.toLowerCase()).join(', '), power.toLowerCase());
  const current = Object.entries(vm.current_operations as Record<string, string>);
  if (
    current.length > 0 &&
    !allowedConcurrently(
      op,
      current.map(([, o]) => o),
    )
  ) {
    const [taskRef, currentOp] =
      current.length === 1
        ? (current[0] as [string, string])
        : [`{${current.map(([t]) => t).join(',')}}`, `{${current.map(([, o]) => o).join(',')}}`];
    return apiError('OTHER_OPERATION_IN_PROGRESS', 'VM', vmRef, currentOp, taskRef);
  }
  const template = vm.is_a_template === true;
  const snapshot = vm.is_a_snapshot === true;
  if (template && !snapshot) {
    const isDefault =
      vm.is_default_template === true || (vm.other_config as Record<string, string>).default_template === 'true';
    const ok = TEMPLATE_OPS.has(op) || ((op === 'destroy' || op === 'migrate_send') && !isDefault);
    if (!ok) return apiError('VM_IS_TEMPLATE', vmRef, op);
  }
  if (snapshot && !SNAPSHOT_OPS.has(op)) return apiError('VM_IS_SNAPSHOT', vmRef, op);
  if (op === 'provision' && !template) return apiError('PROVISION_ONLY_ALLOWED_ON_TEMPLATE');
  if (op === 'revert' && !snapshot) return apiError('REVERT_ONLY_ALLOWED_ON_SNAPSHOT');
  if (
    vm.is_control_domain === true &&
    ![
      'data_source_op',
      'changing_memory_live',
      'awaiting_memory_live',
      'metadata_export',
      'changing_dynamic_range',
      'changing_memory_limits',
      'changing_static_range',
      'start',
      'start_on',
      'changing_VCPUs',
      'destroy',
    ].includes(op)
  ) {
    return apiError('OPERATION_NOT_ALLOWED', 'This operation is not allowed on a control domain');
  }
  const feature = featureError(db, vmRef, vm, op, strict);
  if (feature) return feature;
  if (op === 'snapshot_with_quiesce') return apiError('VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED', vmRef);
  if (['checkpoint', 'snapshot', 'suspend'].includes(op)) {
    const reset = (vm.VBDs as string[]).some((vbd) => {
      const vdiRef = db.get('VBD', vbd)?.VDI as string | undefined;
      const vdi = vdiRef ? db.get('VDI', vdiRef) : undefined;
      return vdi?.on_boot === 'reset';
    });
    if (reset) return apiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION');
  }
  if (op === 'create_vtpm' && (vm.VTPMs as string[]).length > 0)
    return apiError('VTPM_MAX_AMOUNT_REACHED', (vm.VTPMs as string[]).length);
  return undefined;
}

const IGNORED = new Set([
  'create_template',
  'power_state_reset',
  'csvm',
  'get_boot_record',
  'send_sysrq',
  'send_trigger',
  'query_services',
  'shutdown',
  'call_plugin',
  'changing_memory_live',
  'awaiting_memory_live',
  'changing_memory_limits',
  'changing_shadow_memory_live',
  'changing_VCPUs',
  'assert_operation_valid',
  'data_source_op',
  'update_allowed_operations',
  'import',
  'reverting',
]);

/** update_allowed_operations: every considered operation the strict check accepts (XAPI folds, so the list is reversed). */
export function vmAllowedOperations(db: Database, vmRef: string): string[] {
  const ops = (enumValues('vm_operations') ?? []).filter((op) => !IGNORED.has(op));
  const allowed: string[] = [];
  for (const op of ops) if (!vmOperationError(db, vmRef, op, true)) allowed.unshift(op);
  return allowed;
}
