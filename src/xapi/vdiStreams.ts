// A VDI as a VHD stream out of the pool, and the classic manual recipe's normalisation: the VDI exported as a VHD
// stream, re-written as a tap VHD and imported into a new VDI on an EXT SR (tagged with the build, found again on
// retry), from which the image is then exported.
import type { Readable } from 'node:stream';
import { InvalidInputError } from '../errors.js';
import { rewriteVhdStream } from '../disk/vhdStreamRewriter.js';
import type { XapiConnection } from './connection.js';
import type { Ref } from './records.js';
import { BUILD_TAG, findTagged } from './tags.js';

const NORMALIZED_KEY = 'xenimage-normalized';

/**
 * `export_raw_vdi?format=vhd` as a stream; the task's failure reaches the stream as an early end. With
 * `idleTimeoutMs`, a host that sends nothing for that long fails the export with TransferStalled.
 */
export async function exportVhd(
  conn: XapiConnection,
  vdi: Ref,
  signal?: AbortSignal,
  idleTimeoutMs?: number,
): Promise<Readable> {
  const exported = await conn.exportVdi(vdi, 'vhd', { signal, idleTimeoutMs });
  exported.task.catch(() => undefined);
  return exported.stream;
}

/** The EXT SR to normalise through: by name or UUID, else the first SR of type ext. */
function findExtSr(conn: XapiConnection, name?: string) {
  const srs = conn
    .all('SR')
    .filter((sr) => sr.type === 'ext' && (name === undefined || sr.name_label === name || sr.uuid === name));
  if (!srs[0])
    throw new InvalidInputError(name ? `no EXT SR named "${name}"` : 'the pool has no EXT SR to normalise through', {
      sr: name ?? null,
    });
  return srs[0];
}

export interface NormalizedVdi {
  vdi: Ref;
  sr: string;
  reused: boolean;
}

/** The VDI re-imported through an EXT SR as a new tagged VDI; a finished one of the same build is reused. */
export async function normalizeVdi(
  conn: XapiConnection,
  buildId: string,
  vdi: Ref,
  options: {
    sr?: string | undefined;
    signal?: AbortSignal;
    onProgress?: (bytes: number, total: number) => void;
    idleTimeoutMs?: number;
  },
): Promise<NormalizedVdi> {
  const source = await conn.fetch('VDI', vdi);
  const sr = findExtSr(conn, options.sr);
  await conn.barrier();
  const name = `xenimage-normalized-${source.uuid}`;
  const mine = findTagged(conn, buildId).vdis.filter((v) => v.name_label === name);
  const done = mine.find((v) => v.other_config[NORMALIZED_KEY] === 'done');
  if (done) return { vdi: done.$ref, sr: sr.name_label, reused: true };
  const tap = await rewriteVhdStream(await exportVhd(conn, vdi, options.signal, options.idleTimeoutMs), {
    signal: options.signal,
    what: 'XAPI VHD export',
  });
  const target =
    mine[0] ??
    (await conn.fetch(
      'VDI',
      await conn.call<Ref>('VDI.create', {
        SR: sr.$ref,
        virtual_size: source.virtual_size,
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: { [BUILD_TAG]: buildId },
        name_label: name,
        name_description: `xenimage: ${source.name_label} through an EXT SR`,
      }),
    ));
  await conn.importVdi(target.$ref, tap.stream, tap.size, 'vhd', {
    signal: options.signal,
    onProgress: (bytes) => options.onProgress?.(bytes, tap.size),
  });
  await conn.call('VDI.add_to_other_config', target.$ref, NORMALIZED_KEY, 'done');
  return { vdi: target.$ref, sr: sr.name_label, reused: false };
}
