// GET /export_raw_vdi and PUT /import_raw_vdi (export_raw_vdi.ml, import_raw_vdi.ml, importexport.ml):
// session_id (query or cookie) or HTTP Basic auth (a temporary session), 401 on a bad session, vdi as ref or uuid,
// the caller's task_id completed either way (success, VDI_IO_ERROR, …). Exports stream without Content-Length and
// close; imports need Content-Length (chunked refused), send their headers before reading the body, and tolerate
// the xen-api probe PUT.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { LabCore } from '../api/context.js';
import { apiError, ApiError, describeError } from '../api/errors.js';
import { vdiHandle } from '../lifecycle/disks.js';
import { createVdi, updateVdiUsage } from '../lifecycle/vdiOps.js';
import { toXmlValue } from '../wire/marshal.js';
import { T } from '../datamodel/types.js';
import { BLOCK_SIZE } from '../storage/allocation.js';
import { ByteReader, PrematureEndError, vhdExport, vhdExportLength, vhdImport } from '../storage/vhdStream.js';
import { sendError } from './rpc.js';
import { hold } from '../faults.js';

interface TransferContext {
  query: URLSearchParams;
  session: string;
  /** Logged out when the transfer ends (Basic auth). */
  temporarySession: boolean;
  task: string;
  /** The task was created here (no task_id): it is destroyed when done. */
  internalTask: boolean;
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k) out.set(k, decodeURIComponent(v.join('=')));
  }
  return out;
}

/** Authenticates and binds the task; answers 401 itself and returns undefined when the credentials are bad. */
async function begin(
  core: LabCore,
  req: IncomingMessage,
  res: ServerResponse,
  label: string,
): Promise<TransferContext | undefined> {
  const url = new URL(req.url ?? '/', 'http://lab');
  const query = url.searchParams;
  const jar = cookies(req);
  let session = query.get('session_id') ?? jar.get('session_id') ?? '';
  let temporarySession = false;
  const auth = req.headers.authorization;
  if (!session && auth?.startsWith('Basic ')) {
    const [user = '', ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
    try {
      session = await core.sessions.login(user, rest.join(':'), 'http-basic');
      temporarySession = true;
    } catch {
      session = '';
    }
  }
  if (!session || !core.sessions.isValid(session)) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="xapi"', 'Content-Length': 0, Connection: 'close' });
    res.end();
    return undefined;
  }
  const taskId = query.get('task_id') ?? jar.get('task_id') ?? '';
  const given = taskId !== '' && core.db.get('task', taskId) !== undefined;
  const task = given ? taskId : core.tasks.create(label, '', { cancellable: true });
  if (given) core.tasks.makeCancellable(task);
  return { query, session, temporarySession, task, internalTask: !given };
}

function finish(core: LabCore, t: TransferContext, outcome: { result: string } | { error: string[] }): void {
  if ('result' in outcome) core.tasks.succeed(t.task, outcome.result);
  else core.tasks.fail(t.task, outcome.error);
  if (t.internalTask) core.tasks.destroy(t.task);
  if (t.temporarySession) core.sessions.logout(t.session);
}

/** XAPI also streams tar and qcow2; the lab does not, and says so rather than calling them unknown. */
function formatError(format: string): string {
  return format === 'tar' || format === 'qcow2'
    ? `Format ${format} is not simulated by the lab`
    : `Unknown format ${format}`;
}

function findVdi(core: LabCore, id: string | null): string | undefined {
  if (!id) return undefined;
  if (core.db.get('VDI', id)) return id;
  return core.db.findByUuid('VDI', id);
}

/** Counts bytes through, reports progress, and cuts the stream when an exportCut fault says so. */
function meter(onBytes: (total: number) => void, cutAt: number | undefined): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (cutAt !== undefined && total + chunk.length > cutAt) {
        const head = chunk.subarray(0, Math.max(0, cutAt - total));
        total += head.length;
        if (head.length) this.push(head);
        done(new Error('export stream cut (fault)'));
        return;
      }
      total += chunk.length;
      onBytes(total);
      done(null, chunk);
    },
  });
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

/**
 * The allocated blocks that hold data: blocks that read as zeros are left out of a VHD export, as sparse
 * exporters do, so zeroing free space inside the guest shrinks the image.
 */
async function blocksWithData(core: LabCore, vdiRef: string): Promise<number[]> {
  const h = vdiHandle(core, vdiRef);
  const out: number[] = [];
  for (const block of (await core.vdis.allocation(h)).allocated()) {
    const offset = block * BLOCK_SIZE;
    if (offset >= h.virtualSize) continue;
    const data = await core.vdis.read(h, offset, BLOCK_SIZE);
    if (!ZERO_BLOCK.subarray(0, data.length).equals(data)) out.push(block);
  }
  return out;
}

/** Blocks that differ from the base VDI's (zeros included: they overwrite the base's data). */
async function blocksDifferingFromBase(core: LabCore, vdiRef: string, baseRef: string): Promise<number[]> {
  const h = vdiHandle(core, vdiRef);
  const b = vdiHandle(core, baseRef);
  const mine = await core.vdis.allocation(h);
  const theirs = await core.vdis.allocation(b);
  const candidates = new Set([...mine.allocated(), ...theirs.allocated()]);
  const out: number[] = [];
  for (const block of [...candidates].sort((x, y) => x - y)) {
    if (block * BLOCK_SIZE >= h.virtualSize) continue;
    const [x, y] = await Promise.all([
      core.vdis.read(h, block * BLOCK_SIZE, BLOCK_SIZE),
      core.vdis.read(b, block * BLOCK_SIZE, BLOCK_SIZE),
    ]);
    if (!x.equals(y)) out.push(block);
  }
  return out;
}

export async function handleExport(core: LabCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t = await begin(core, req, res, 'export_raw_vdi');
  if (!t) return;
  const fail = (status: number, error: string[]) => {
    finish(core, t, { error });
    sendError(res, status, status === 404 ? 'Not Found' : 'Internal Server Error');
  };
  const format = t.query.get('format') ?? 'raw';
  if (format !== 'raw' && format !== 'vhd') return fail(404, ['INTERNAL_ERROR', formatError(format)]);
  const vdiRef = findVdi(core, t.query.get('vdi'));
  if (!vdiRef) return fail(404, ['HANDLE_INVALID', 'VDI', t.query.get('vdi') ?? '']);
  const vdi = core.db.require('VDI', vdiRef);
  // Lab choice: a disk attached read-write to a running VM is not exported (the workflow never does it).
  const inUse = (vdi.VBDs as string[]).some((v) => {
    const vbd = core.db.get('VBD', v);
    return vbd?.currently_attached === true && vbd.mode === 'RW';
  });
  if (inUse) return fail(500, ['VDI_IN_USE', vdiRef, 'export']);
  const handle = vdiHandle(core, vdiRef);
  const baseRef = findVdi(core, t.query.get('base'));
  let source;
  let total: number;
  if (format === 'vhd') {
    const blocks = baseRef ? await blocksDifferingFromBase(core, vdiRef, baseRef) : await blocksWithData(core, vdiRef);
    source = vhdExport({
      size: handle.virtualSize,
      blocks,
      readBlock: (i) => core.vdis.read(handle, i * BLOCK_SIZE, BLOCK_SIZE),
    });
    total = vhdExportLength(handle.virtualSize, blocks.length);
  } else {
    const size = handle.virtualSize;
    source = (async function* () {
      for (let off = 0; off < size; off += BLOCK_SIZE)
        yield await core.vdis.read(handle, off, Math.min(BLOCK_SIZE, size - off));
    })();
    total = size;
  }
  const cut = core.faults.take(['exportCut'], 'export_raw_vdi');
  // A slow SR: the stream stalls once, at `atByte` (default half), for `delayMs`.
  const slow = core.faults.take(['slow'], 'export_raw_vdi');
  if (slow) source = stallAt(source, slow.atByte ?? Math.floor(total / 2), slow.delayMs ?? 5000, core.stopping);
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, {
    Connection: 'close',
    'Cache-Control': 'no-cache, no-store',
    'task-id': t.task,
    'Content-Type': format === 'vhd' ? 'application/vhd' : 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${vdi.uuid as string}.${format === 'vhd' ? 'vhd' : 'raw'}"`,
  });
  let lastProgress = 0;
  try {
    await pipeline(
      source,
      meter(
        (n) => {
          const p = Math.min(0.99, n / Math.max(1, total));
          if (p - lastProgress >= 0.05) {
            lastProgress = p;
            core.tasks.setProgress(t.task, p);
          }
        },
        cut ? (cut.atByte ?? Math.floor(total / 2)) : undefined,
      ),
      res,
    );
    finish(core, t, { result: '' });
  } catch (err) {
    core.log.warn({ err: (err as Error).message, vdi: vdiRef }, 'export ended early');
    finish(core, t, { error: ['VDI_IO_ERROR', 'Device I/O errors'] });
    req.destroy(); // stop reading the rest of the body; the socket may already be detached
  }
}

export async function handleImport(core: LabCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t = await begin(core, req, res, 'import_raw_vdi');
  if (!t) return;
  const fail = (status: number, error: string[]) => {
    finish(core, t, { error });
    req.resume();
    sendError(res, status, status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Internal Server Error');
  };
  const format = t.query.get('format') ?? 'raw';
  if (req.headers['transfer-encoding']?.toLowerCase().includes('chunked'))
    return fail(404, ['INTERNAL_ERROR', 'Cannot handle encoding: chunked']);
  if (t.query.has('chunked')) return fail(404, ['INTERNAL_ERROR', 'chunked imports are not simulated by the lab']);
  if (format !== 'raw' && format !== 'vhd') return fail(404, ['INTERNAL_ERROR', formatError(format)]);
  const lengthHeader = req.headers['content-length'];
  if (lengthHeader === undefined) return fail(400, ['INTERNAL_ERROR', 'Content-Length required']);
  const length = Number(lengthHeader);
  let vdiRef = findVdi(core, t.query.get('vdi'));
  if (!vdiRef && t.query.get('vdi')) return fail(404, ['HANDLE_INVALID', 'VDI', t.query.get('vdi') ?? '']);
  if (!vdiRef) {
    const srId =
      t.query.get('sr_id') ?? (t.query.get('sr_uuid') ? core.db.findByUuid('SR', t.query.get('sr_uuid')!) : undefined);
    if (format !== 'raw' || !srId || !core.db.get('SR', srId))
      return fail(400, ['INTERNAL_ERROR', 'import_raw_vdi needs a vdi (or, for format=raw, an SR)']);
    try {
      vdiRef = await createVdi(core, { SR: srId, virtual_size: length, type: 'user', name_label: 'Imported VDI' });
    } catch (err) {
      return fail(500, describeError(err));
    }
  }
  const vdi = core.db.require('VDI', vdiRef);
  if (vdi.read_only === true || core.db.get('SR', vdi.SR as string)?.type === 'iso')
    return fail(500, ['VDI_READONLY', vdiRef]);
  if ((vdi.VBDs as string[]).some((v) => core.db.get('VBD', v)?.currently_attached === true))
    return fail(500, ['VDI_IN_USE', vdiRef, 'import']);
  const handle = vdiHandle(core, vdiRef);
  if (format === 'raw' && length > handle.virtualSize && length !== 1125899906842624)
    return fail(500, ['VDI_IO_ERROR', 'Device I/O errors']);

  // Headers first: clients that stream with an unknown length (xen-api's 1 PiB declaration) wait for them.
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, { 'task-id': t.task, 'Content-Type': 'application/octet-stream', Connection: 'close' });
  res.flushHeaders();
  if (length === 0) {
    // The xen-api probe (or an empty upload): nothing to write.
    finish(core, t, { result: toXmlValue(vdiRef, T.ref('VDI')) });
    res.end();
    return;
  }
  const ioFault = core.faults.take(['importIoError'], 'import_raw_vdi');
  const failAt = ioFault ? (ioFault.atByte ?? Math.floor(Math.min(length, handle.virtualSize) / 2)) : undefined;
  let received = 0;
  let lastProgress = 0;
  const counted = (async function* () {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (failAt !== undefined && received > failAt) throw apiError('VDI_IO_ERROR', 'Device I/O errors');
      const p = Math.min(0.99, received / Math.max(1, length));
      if (p - lastProgress >= 0.05) {
        lastProgress = p;
        core.tasks.setProgress(t.task, p);
      }
      if (t.task && !core.tasks.isPending(t.task)) throw apiError('TASK_CANCELLED', t.task);
      yield chunk;
    }
  })();
  const reader = new ByteReader(counted[Symbol.asyncIterator]());
  const allocation = await core.vdis.allocation(handle);
  try {
    if (format === 'vhd') {
      await vhdImport(reader, {
        capacity: handle.virtualSize,
        write: (off, data) => core.vdis.write(handle, off, data),
      });
    } else {
      let offset = 0;
      while (offset < length) {
        const piece = await reader.readUpTo(Math.min(BLOCK_SIZE - (offset % BLOCK_SIZE), length - offset));
        if (piece.length === 0) break;
        if (offset + piece.length > handle.virtualSize) throw new PrematureEndError('data beyond the end of the VDI');
        // Zeros need no write on a block that holds nothing yet: the VDI stays sparse.
        const zero = !piece.some((b) => b !== 0);
        if (!zero || allocation.has(Math.floor(offset / BLOCK_SIZE))) await core.vdis.write(handle, offset, piece);
        offset += piece.length;
      }
      if (offset < length) throw new PrematureEndError(`the upload ended after ${offset} of ${length} bytes`);
    }
    await updateVdiUsage(core, vdiRef);
    finish(core, t, { result: toXmlValue(vdiRef, T.ref('VDI')) });
    res.end();
  } catch (err) {
    await updateVdiUsage(core, vdiRef).catch(() => undefined);
    // Format errors, short or aborted bodies and storage failures all end as vhd-tool reports them.
    const error = err instanceof ApiError ? err.description : ['VDI_IO_ERROR', 'Device I/O errors'];
    core.log.warn({ err: (err as Error).message, vdi: vdiRef }, 'import failed');
    finish(core, t, { error });
    res.end();
    req.destroy(); // stop reading the rest of the body; the socket may already be detached
  }
}

async function* stallAt(
  source: AsyncIterable<Buffer>,
  atByte: number,
  ms: number,
  stopping: AbortSignal,
): AsyncGenerator<Buffer> {
  let sent = 0;
  let stalled = false;
  for await (const chunk of source) {
    if (!stalled && sent + chunk.length > atByte) {
      const head = chunk.subarray(0, Math.max(0, atByte - sent));
      if (head.length > 0) yield head;
      stalled = true;
      await hold(ms, stopping);
      if (stopping.aborted) throw new Error('the host went down during the transfer'); // a restart cuts transfers
      yield chunk.subarray(head.length);
    } else yield chunk;
    sent += chunk.length;
  }
}
