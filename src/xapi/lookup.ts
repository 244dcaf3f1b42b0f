// Finding things by the names operators use: templates, SRs, networks, ISOs, VMs; and a VM's system disk.
// Every miss is a typed, non-retryable error that names what exists.
import { InvalidInputError, XenimageError } from '../errors.js';
import type { XapiConnection } from './connection.js';
import { NULL_REF, type Ref, type SrRecord, type VdiRecord, type VmRecord, type WithRef } from './records.js';

export class NotFoundError extends XenimageError {
  constructor(what: string, name: string, known: string[], details: Record<string, unknown> = {}) {
    const list = known.length ? ` (known: ${[...new Set(known)].sort().slice(0, 20).join(', ')})` : '';
    super('XapiNotFound', `${what} "${name}" not found in the pool${list}`, {
      retryable: false,
      details: { what, name, ...details },
    });
  }
}

export class AmbiguousNameError extends XenimageError {
  constructor(what: string, name: string, count: number) {
    super('XapiAmbiguousName', `${count} ${what}s are named "${name}"; use a UUID`, {
      retryable: false,
      details: { what, name, count },
    });
  }
}

export function findTemplate(conn: XapiConnection, name: string): WithRef<VmRecord> {
  const templates = conn.all('VM').filter((v) => v.is_a_template && !v.is_a_snapshot);
  const hits = templates.filter((v) => v.name_label === name);
  if (hits.length === 0)
    throw new NotFoundError(
      'template',
      name,
      templates.map((t) => t.name_label),
    );
  return hits[0]!;
}

const isIsoSr = (sr: SrRecord) => sr.content_type === 'iso' || sr.type === 'iso';

/** A disk SR by name; without a name the pool's default SR. */
export function findDiskSr(conn: XapiConnection, name?: string): WithRef<SrRecord> {
  const disks = conn.all('SR').filter((s) => !isIsoSr(s) && s.PBDs.length > 0);
  if (name === undefined) {
    const pool = conn.all('pool')[0];
    const def = pool && pool.default_SR !== NULL_REF ? conn.cached('SR', pool.default_SR) : undefined;
    if (!def || isIsoSr(def))
      throw new NotFoundError(
        'default SR',
        '(pool default)',
        disks.map((s) => s.name_label),
      );
    return def;
  }
  const hits = disks.filter((s) => s.name_label === name || s.uuid === name);
  if (hits.length === 0)
    throw new NotFoundError(
      'storage repository',
      name,
      disks.map((s) => s.name_label),
    );
  if (hits.length > 1) throw new AmbiguousNameError('storage repository', name, hits.length);
  return hits[0]!;
}

export function findNetwork(conn: XapiConnection, name?: string) {
  const nets = conn.all('network');
  if (name === undefined) {
    const physical = nets.find((n) => n.PIFs.length > 0);
    if (!physical)
      throw new NotFoundError(
        'network with a physical interface',
        '(default)',
        nets.map((n) => n.name_label),
      );
    return physical;
  }
  const hits = nets.filter((n) => n.name_label === name || n.uuid === name || n.bridge === name);
  if (hits.length === 0)
    throw new NotFoundError(
      'network',
      name,
      nets.map((n) => n.name_label),
    );
  if (hits.length > 1) throw new AmbiguousNameError('network', name, hits.length);
  return hits[0]!;
}

/** An ISO by its name in an ISO SR (the file name for ISO libraries). */
export function findIso(conn: XapiConnection, name: string): WithRef<VdiRecord> {
  const isos = conn.all('VDI').filter((v) => {
    const sr = conn.cached('SR', v.SR);
    return sr !== undefined && isIsoSr(sr);
  });
  const hits = isos.filter((v) => v.name_label === name || v.uuid === name);
  if (hits.length === 0)
    throw new NotFoundError(
      'ISO',
      name,
      isos.map((v) => v.name_label),
    );
  return hits[0]!;
}

/** A VM (not a template, snapshot or control domain) by name or UUID. */
export function findVm(conn: XapiConnection, by: { name: string } | { uuid: string }): WithRef<VmRecord> {
  const vms = conn.all('VM').filter((v) => !v.is_a_template && !v.is_a_snapshot && !v.is_control_domain);
  if ('uuid' in by) {
    const hit = vms.find((v) => v.uuid === by.uuid);
    if (!hit) throw new NotFoundError('VM', by.uuid, [], { uuid: by.uuid });
    return hit;
  }
  const hits = vms.filter((v) => v.name_label === by.name);
  if (hits.length === 0)
    throw new NotFoundError(
      'VM',
      by.name,
      vms.map((v) => v.name_label),
    );
  if (hits.length > 1) throw new AmbiguousNameError('VM', by.name, hits.length);
  return hits[0]!;
}

export interface SystemDisk {
  vbd: Ref;
  vdi: Ref;
  virtualSize: number;
}

/** The disk with userdevice 0 (works before the first boot, when device is still ""). */
export function systemDisk(conn: XapiConnection, vm: Ref): SystemDisk | undefined {
  const rec = conn.cached('VM', vm);
  if (!rec) return undefined;
  for (const vbdRef of rec.VBDs) {
    const vbd = conn.cached('VBD', vbdRef);
    if (vbd?.type === 'Disk' && vbd.userdevice === '0' && vbd.VDI !== NULL_REF) {
      const vdi = conn.cached('VDI', vbd.VDI);
      if (vdi) return { vbd: vbdRef, vdi: vbd.VDI, virtualSize: vdi.virtual_size };
    }
  }
  return undefined;
}

/** The VM's system disk, read fresh; a VM without one is bad input (typed, non-retryable). */
export async function findSystemDisk(conn: XapiConnection, vm: Ref): Promise<SystemDisk> {
  await conn.barrier();
  if (!conn.cached('VM', vm)) await conn.fetch('VM', vm);
  const disk = systemDisk(conn, vm);
  if (!disk) throw new InvalidInputError(`VM ${vm} has no disk at userdevice 0`, { vm });
  return disk;
}
