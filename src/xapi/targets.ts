// Everything a build will use in a pool, looked up before anything is made: a wrong name fails typed and
// non-retryable (XapiNotFound) while nothing exists yet.
import { INSTALL_TEMPLATE } from './buildVm.js';
import type { XapiConnection } from './connection.js';
import { findDiskSr, findIso, findNetwork, findTemplate } from './lookup.js';
import type { Ref } from './records.js';

export interface TargetNames {
  sr?: string | undefined;
  network?: string | undefined;
  /** ISOs that must exist in an ISO SR (by name). */
  isos?: string[] | undefined;
  template?: string | undefined;
}

export interface Targets {
  sr: { name: string; uuid: string; ref: Ref };
  network: { name: string; uuid: string; ref: Ref };
  isos: Array<{ name: string; uuid: string; ref: Ref }>;
  template: { name: string; uuid: string };
}

export function findTargets(conn: XapiConnection, names: TargetNames): Targets {
  const sr = findDiskSr(conn, names.sr);
  const network = findNetwork(conn, names.network);
  const isos = (names.isos ?? []).map((name) => findIso(conn, name));
  const template = findTemplate(conn, names.template ?? INSTALL_TEMPLATE);
  return {
    sr: { name: sr.name_label, uuid: sr.uuid, ref: sr.$ref },
    network: { name: network.name_label, uuid: network.uuid, ref: network.$ref },
    isos: isos.map((i) => ({ name: i.name_label, uuid: i.uuid, ref: i.$ref })),
    template: { name: template.name_label, uuid: template.uuid },
  };
}
