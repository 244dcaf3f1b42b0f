// The VM's platform map. XenServer's tools installers (and Windows templates) set platform:device_id=0002; nova
// presents 0001, so drivers bound to 0002 would not find their device in the cloud (docs/operator-guide.md §3).
import type { XapiConnection } from './connection.js';
import type { Ref } from './records.js';

/** Where removeDeviceId remembers what it removed, so a retry reports the same answer. */
const DEVICE_ID_MARK = 'xenimage-removed-device-id';

export interface DeviceIdRemoval {
  wasSet: boolean;
  value?: string;
}

/**
 * Removes platform:device_id and says whether it was set (the restart that applies it is the caller's). A retry
 * after the removal gives the same answer: the removed value is remembered in other_config.
 */
export async function removeDeviceId(conn: XapiConnection, vm: Ref): Promise<DeviceIdRemoval> {
  const rec = await conn.fetch('VM', vm);
  const value = rec.platform.device_id;
  if (value !== undefined) {
    await conn.call('VM.remove_from_other_config', vm, DEVICE_ID_MARK);
    await conn.call('VM.add_to_other_config', vm, DEVICE_ID_MARK, value);
    await conn.call('VM.remove_from_platform', vm, 'device_id');
    return { wasSet: true, value };
  }
  const removed = rec.other_config[DEVICE_ID_MARK];
  return removed !== undefined ? { wasSet: true, value: removed } : { wasSet: false };
}

export type DeviceIdPolicy = 'remove' | 'keep' | '0002';

export interface DeviceIdOutcome {
  policy: DeviceIdPolicy;
  /** What the build did: removed it, kept what the tools left, set 0002, or nothing (already as wanted). */
  action: 'removed' | 'kept' | 'set' | 'none';
  /** platform:device_id once the policy is applied (absent: the Xen platform device 0001). */
  value?: string;
  /** platform:device_id as the tools left it. */
  previous?: string;
  /** The value changed: the drivers must bind again, so the caller restarts the VM. */
  changed: boolean;
}

/**
 * platform:device_id by policy: `remove` (what nova presents by default, docs/operator-guide.md §3), `keep` what
 * the tools installer left, or `0002` (the image then asks nova for it through xenapi_device_id). Repeatable.
 */
export async function applyDeviceIdPolicy(
  conn: XapiConnection,
  vm: Ref,
  policy: DeviceIdPolicy,
): Promise<DeviceIdOutcome> {
  if (policy === 'remove') {
    const r = await removeDeviceId(conn, vm);
    return { policy, action: r.wasSet ? 'removed' : 'none', changed: r.wasSet };
  }
  const value = (await conn.fetch('VM', vm)).platform.device_id;
  const was = value !== undefined ? { value, previous: value } : {};
  if (policy === 'keep') return { policy, action: 'kept', ...was, changed: false };
  if (value === '0002') return { policy, action: 'none', ...was, changed: false };
  await conn.call('VM.remove_from_platform', vm, 'device_id');
  await conn.call('VM.add_to_platform', vm, 'device_id', '0002');
  return { policy, action: 'set', value: '0002', ...(value !== undefined ? { previous: value } : {}), changed: true };
}
