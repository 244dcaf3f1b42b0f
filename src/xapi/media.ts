// Generated ISOs (the answer media) for CD drives. XAPI cannot create VDIs on an ISO SR (its SM driver has no
// VDI_CREATE), so — as Packer's XenServer builders do — the ISO goes into a VDI on a disk SR through
// import_raw_vdi, and a read-only CD drive plays it. The VDI is tagged with the build, marked as generated media
// and records the ISO's SHA-256, so a retry reuses a finished import, cleanup finds it, and a build that keeps its
// leftovers can still discard it (it holds the build's secrets).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { XapiConnection } from './connection.js';
import { hasXapiCode } from './errors.js';
import { findDiskSr } from './lookup.js';
import type { Ref } from './records.js';
import { BUILD_TAG, findTagged } from './tags.js';
import { NULL_REF } from './records.js';

const ISO_SHA_KEY = 'xenimage-sha256';
/** Marks a VDI that holds media the build generated (set at creation, before any byte is written). */
const GENERATED_ISO_KEY = 'xenimage-generated-iso';

export interface ImportedIso {
  vdi: Ref;
  reused: boolean;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Puts the ISO file into a VDI named `name` on a disk SR (default: the pool's default SR). */
export async function importIsoFile(
  conn: XapiConnection,
  buildId: string,
  file: string,
  options: { name: string; sr?: string | undefined; signal?: AbortSignal; onProgress?: (bytes: number) => void },
): Promise<ImportedIso> {
  const { size } = await stat(file);
  const sha = await sha256File(file);
  await conn.barrier();
  const mine = findTagged(conn, buildId).vdis.filter((v) => v.name_label === options.name);
  const done = mine.find((v) => v.other_config[ISO_SHA_KEY] === sha);
  if (done) return { vdi: done.$ref, reused: true };
  const reusable = mine.find(
    (v) => v.VBDs.every((b) => !conn.cached('VBD', b)?.currently_attached) && v.virtual_size >= size,
  );
  let vdi: Ref;
  if (reusable) {
    vdi = reusable.$ref;
    await conn.call('VDI.remove_from_other_config', vdi, ISO_SHA_KEY);
  } else {
    const sr = findDiskSr(conn, options.sr);
    vdi = await conn.call<Ref>('VDI.create', {
      SR: sr.$ref,
      virtual_size: size,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: { [BUILD_TAG]: buildId, [GENERATED_ISO_KEY]: 'true' },
      name_label: options.name,
      name_description: `xenimage answer media for ${buildId}`,
    });
  }
  const stream = createReadStream(file);
  await conn.importVdi(vdi, stream, size, 'raw', { signal: options.signal, onProgress: options.onProgress });
  await conn.call('VDI.add_to_other_config', vdi, ISO_SHA_KEY, sha);
  return { vdi, reused: false };
}

/**
 * Ejects and destroys the media a build generated (its answer ISO), even from a VM that is kept running: the rest
 * of a kept build stays for debugging, its secrets do not. Returns the names of the destroyed VDIs.
 */
export async function discardGeneratedIsos(
  conn: XapiConnection,
  buildId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  await conn.barrier();
  const discarded: string[] = [];
  for (const vdi of findTagged(conn, buildId).vdis.filter((v) => v.other_config[GENERATED_ISO_KEY] === 'true')) {
    for (const ref of vdi.VBDs) {
      const vbd = conn.cached('VBD', ref);
      // A snapshot's drive is not ejected (it cannot be); destroying the VDI takes it along.
      if (!vbd || vbd.empty || vbd.VDI === NULL_REF || conn.cached('VM', vbd.VM)?.is_a_snapshot) continue;
      try {
        await conn.callAsync('VBD.eject', [ref], { signal });
      } catch (err) {
        if (!hasXapiCode(err, 'VBD_IS_EMPTY') && !hasXapiCode(err, 'HANDLE_INVALID')) throw err;
      }
    }
    try {
      await conn.callAsync('VDI.destroy', [vdi.$ref], { signal });
      discarded.push(vdi.name_label);
    } catch (err) {
      if (!hasXapiCode(err, 'HANDLE_INVALID')) throw err;
    }
  }
  return discarded;
}
