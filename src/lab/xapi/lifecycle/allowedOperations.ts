// allowed_operations of VBDs and VDIs as XAPI recomputes them after every change (xapi_vbd_helpers.ml,
// xapi_vdi.ml), reduced to the attachment rules that decide what a client may do next. VMs: ./vmOperations.ts.
import type { Row } from '../db/database.js';

export function vbdAllowedOperations(vbd: Row, vmPowerState: string): string[] {
  const ops: string[] = [];
  if (vbd.type === 'CD') ops.push(vbd.empty === true ? 'insert' : 'eject');
  if (vmPowerState === 'Running')
    ops.push(...(vbd.currently_attached === true ? ['unplug', 'unplug_force'] : ['plug']));
  else if (vmPowerState === 'Halted') ops.push('attach');
  return ops;
}

export function vdiAllowedOperations(vdi: Row, attached: boolean, iso: boolean): string[] {
  if (iso) return ['forget', 'force_unlock', 'generate_config', 'update', 'copy', 'clone'];
  const ops = ['generate_config', 'force_unlock', 'update', 'forget', 'copy', 'clone', 'snapshot', 'set_on_boot'];
  if (!attached) ops.push('destroy', 'resize');
  else ops.push('resize_online');
  if (vdi.is_a_snapshot === true) return ops.filter((o) => o !== 'snapshot' && o !== 'resize' && o !== 'resize_online');
  return ops;
}
