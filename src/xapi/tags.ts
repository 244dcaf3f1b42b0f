// Everything a build creates carries other_config['xenimage-build'] = <build identity> (workflow ID @ first run
// ID, src/contracts/buildIdentity.ts): retries find their own work by it, and cleanup removes exactly it.
import type { XapiConnection } from './connection.js';
import type { Ref, VdiRecord, VmRecord, WithRef } from './records.js';

export const BUILD_TAG = 'xenimage-build';

export type TaggableClass = 'VM' | 'VDI';

/** Sets the tag (remove then add, as XAPI clients do, so a stale value never blocks it). */
export async function tag(conn: XapiConnection, cls: TaggableClass, ref: Ref, buildId: string): Promise<void> {
  await conn.call(`${cls}.remove_from_other_config`, ref, BUILD_TAG);
  await conn.call(`${cls}.add_to_other_config`, ref, BUILD_TAG, buildId);
}

export function isTagged(record: { other_config: Record<string, string> }, buildId: string): boolean {
  return record.other_config[BUILD_TAG] === buildId;
}

export interface Tagged {
  /** VMs of the build (not snapshots; a VM cut short between clone and provision is still a template). */
  vms: Array<WithRef<VmRecord>>;
  snapshots: Array<WithRef<VmRecord>>;
  vdis: Array<WithRef<VdiRecord>>;
}

/** Everything in the pool tagged with the build (from the event cache; call conn.barrier() first for freshness). */
export function findTagged(conn: XapiConnection, buildId: string): Tagged {
  const vms = conn.all('VM').filter((v) => isTagged(v, buildId));
  return {
    vms: vms.filter((v) => !v.is_a_snapshot),
    snapshots: vms.filter((v) => v.is_a_snapshot),
    vdis: conn.all('VDI').filter((v) => isTagged(v, buildId)),
  };
}

/** One line per tagged VM, snapshot and VDI (what a failure that keeps its leftovers lists), read fresh. */
export async function describeTagged(conn: XapiConnection, buildId: string): Promise<string[]> {
  await conn.barrier();
  const t = findTagged(conn, buildId);
  return [
    ...t.vms.map((v) => `VM "${v.name_label}" ${v.uuid}`),
    ...t.snapshots.map((v) => `snapshot "${v.name_label}" ${v.uuid}`),
    ...t.vdis.map((v) => `VDI "${v.name_label}" ${v.uuid}`),
  ];
}
