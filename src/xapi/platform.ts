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
