// The typed XAPI facade against the lab: connection by pool name, typed and classified errors, Async calls with
// cancellation, event-driven waits (surviving a stalled event loop), streaming export/import, re-login and
// following the master.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { InvalidInputError, XenimageError } from '../../src/errors.js';
import { contentBytes } from '../../src/lab/scenarios/content.js';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { SecretResolver } from '../../src/secrets.js';
import { connectPool } from '../../src/xapi/connect.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { XapiCallError, xapiErrorType } from '../../src/xapi/errors.js';
import { findVm, systemDisk } from '../../src/xapi/lookup.js';
import { waitForHalt } from '../../src/xapi/power.js';
import { beforeLabStops, startTestLab } from '../helpers/xapiLab.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

async function connect(
  lab: XapiLab,
  options: Parameters<typeof connectPool>[2] = {},
  pool = lab.poolName,
): Promise<XapiConnection> {
  const conn = await connectPool(
    pool,
    { poolsFile: lab.poolsFile, secrets: new SecretResolver({ dir: lab.secretsDir, env: {} }) },
    { eventPollDelayMs: 200, ...options },
  );
  beforeLabStops(lab, () => conn.close());
  return conn;
}

function xenimageCode(err: unknown): [string, boolean, string[]] {
  assert.ok(err instanceof XenimageError, String(err));
  return [err.type, err.retryable, err instanceof XapiCallError ? err.params : []];
}

test('connect by pool name; typed, classified errors; unknown pools fail typed', async (t) => {
  const lab = await startTestLab(t, { scenario: 'existing-vms' });
  const conn = await connect(lab);
  assert.equal(conn.all('pool')[0]?.name_label, 'xenimage-lab');
  assert.equal(xapiErrorType('VM_BAD_POWER_STATE'), 'XapiVmBadPowerState');
  const err1 = await conn.call('VM.get_record', 'OpaqueRef:NULL').catch((e: unknown) => e);
  assert.deepEqual(xenimageCode(err1), ['XapiHandleInvalid', false, ['VM', 'OpaqueRef:NULL']]);
  const pv = findVm(conn, { name: 'debian-pv' });
  const err2 = await conn.callAsync('VM.start', [pv.$ref, false, false]).catch((e: unknown) => e);
  assert.deepEqual(xenimageCode(err2), ['XapiVmBadPowerState', false, [pv.$ref, 'halted', 'running']]);
  assert.match((err2 as Error).message, /VM\.start: XAPI error VM_BAD_POWER_STATE/);
  await assert.rejects(
    connect(lab, {}, 'no-such-pool'),
    (err: unknown) =>
      err instanceof InvalidInputError &&
      /pool "no-such-pool" is not in .*known: xenimage-lab/.test((err as Error).message),
  );
});

test('a wrong password fails typed and not retryable, without the password in the message', async (t) => {
  const lab = await startTestLab(t);
  const dir = await tempDir(t);
  await writeFile(path.join(dir, lab.secretName), 'not-the-password');
  const err = await connectPool(lab.poolName, {
    poolsFile: lab.poolsFile,
    secrets: new SecretResolver({ dir, env: {} }),
  }).catch((e: unknown) => e);
  assert.deepEqual(xenimageCode(err).slice(0, 2), ['XapiSessionAuthenticationFailed', false]);
  assert.ok(!(err as Error).message.includes('not-the-password'));
});

test('callAsync honours an AbortSignal: the task is cancelled, the VM stays halted', async (t) => {
  const lab = await startTestLab(t, { speed: 1 });
  const conn = await connect(lab);
  const [tpl] = await conn.call<string[]>('VM.get_by_name_label', 'Other install media');
  const vm = await conn.callAsync<string>('VM.clone', [tpl, 'cancel-me']);
  await conn.call('VM.set_is_a_template', vm, false);
  const controller = new AbortController();
  const started = conn.callAsync('VM.start', [vm, false, false], { signal: controller.signal });
  // Aborted while XAPI runs the start.
  await conn.waitFor((get) => (Object.keys(get('VM', vm)?.current_operations ?? {}).length > 0 ? true : undefined), {
    timeoutMs: 5000,
    what: 'the start to begin',
  });
  controller.abort();
  await assert.rejects(started, (err: unknown) => err instanceof XenimageError && err.type === 'Cancelled');
  await conn.waitFor(
    (get) =>
      get('VM', vm)?.current_operations && Object.keys(get('VM', vm)!.current_operations).length === 0
        ? true
        : undefined,
    { timeoutMs: 5000, what: 'the start to stop' },
  );
  assert.equal((await conn.fetch('VM', vm)).power_state, 'Halted');
});

test('waits are event-driven, and survive a stalled event.from through direct re-reads', async (t) => {
  const lab = await startTestLab(t, { scenario: 'existing-vms' });
  // Stalled after 1 s without an event.from answer (an answer comes at least every 60 s otherwise).
  const conn = await connect(lab, { recheckMs: 300, eventsStaleMs: 1000 });
  const pv = findVm(conn, { name: 'debian-pv' });
  const halted = waitForHalt(conn, pv.$ref, { timeoutMs: 5000, what: 'halt' });
  await lab.host.guestShutdown(pv.$ref);
  await halted;
  // Every event.from from now on hangs for 70 s: the wait still ends, from its periodic direct re-read.
  lab.faults.inject({ kind: 'eventStall', every: true, delayMs: 70_000 });
  await waitFor('the next event.from to stall', () => lab.faults.fired.some((f) => f.kind === 'eventStall'), 5000);
  const hvm = findVm(conn, { name: 'legacy-hvm' });
  const waiting = waitForHalt(conn, hvm.$ref, { timeoutMs: 10_000, what: 'halt' });
  await lab.host.guestShutdown(hvm.$ref);
  await waiting;
  assert.ok(lab.faults.fired.some((f) => f.kind === 'eventStall'));
  const timeout = await waitForHalt(conn, hvm.$ref, { timeoutMs: 100, what: 'nothing' }).then(
    () => 'resolved',
    (e: unknown) => e,
  );
  assert.equal(timeout, 'resolved', 'an already halted VM resolves at once');
  const err = await conn
    .waitFor(() => undefined, { timeoutMs: 150, what: 'something that never happens' })
    .catch((e: unknown) => e);
  assert.deepEqual(xenimageCode(err).slice(0, 2), ['XapiWaitTimeout', false]);
});

test('while events flow a wait reads its records once, however long it lasts; a stalled loop makes it re-read', async (t) => {
  const lab = await startTestLab(t, { scenario: 'existing-vms' });
  const pv = (conn: XapiConnection) => findVm(conn, { name: 'debian-pv' }).$ref;
  const readsDuring = async (conn: XapiConnection): Promise<number> => {
    const vm = pv(conn);
    const before = lab.calls()['VM.get_record'] ?? 0;
    const err = await conn
      .waitFor((get) => (get('VM', vm)?.power_state === 'Paused' ? true : undefined), {
        timeoutMs: 1500,
        what: 'a pause nobody asks for',
      })
      .catch((e: unknown) => e);
    assert.deepEqual(xenimageCode(err).slice(0, 2), ['XapiWaitTimeout', false]);
    return (lab.calls()['VM.get_record'] ?? 0) - before;
  };
  // Checked every 50 ms: the events are fresh (the default 70 s), so only the first read happens.
  const flowing = await connect(lab, { recheckMs: 50 });
  assert.equal(await readsDuring(flowing), 1, 'one direct read, at the start');
  // The same wait on a connection that takes any silence for a stall re-reads every 50 ms.
  const stalled = await connect(lab, { recheckMs: 50, eventsStaleMs: 0 });
  assert.ok((await readsDuring(stalled)) >= 10, 'a stalled loop is made up for by direct reads');
});

test('export streams a VHD qemu-img reads; import lands the bytes; 401 sessions are renewed', async (t) => {
  const lab = await startTestLab(t, { scenario: 'existing-vms' });
  const conn = await connect(lab);
  const dir = await tempDir(t);
  const hvm = findVm(conn, { name: 'legacy-hvm' });
  await conn.callAsync('VM.hard_shutdown', [hvm.$ref]);
  const disk = systemDisk(conn, hvm.$ref)!;
  lab.expireSessions(); // the export's session_id is stale: a 401 is answered by logging in again
  const { stream, task } = await conn.exportVdi(disk.vdi, 'vhd');
  const file = path.join(dir, 'hvm.vhd');
  const { createWriteStream } = await import('node:fs');
  const { pipeline } = await import('node:stream/promises');
  await pipeline(stream, createWriteStream(file));
  await task;
  const raw = path.join(dir, 'hvm.raw');
  await run('qemu-img', [
    'convert',
    '-O',
    'raw',
    `json:${JSON.stringify({ driver: 'vpc', force_size_calc: 'current_size', file: { driver: 'file', filename: file } })}`,
    raw,
  ]);
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(raw);
  assert.equal(bytes.length, 96 * MiB);
  assert.deepEqual(
    bytes.subarray(33 * MiB, 36 * MiB),
    contentBytes({ offsetMiB: 33, lengthMiB: 3, seed: 'legacy-hvm data' }),
  );

  const [sr] = await conn.call<string[]>('SR.get_by_name_label', 'LVM storage');
  const target = await conn.call<string>('VDI.create', {
    SR: sr,
    virtual_size: 96 * MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
  });
  let progress = 0;
  const vhd = await readFile(file);
  await conn.importVdi(target, Readable.from([vhd]), vhd.length, 'vhd', { onProgress: (n) => (progress = n) });
  assert.equal(progress, vhd.length);
  assert.deepEqual(
    await lab.host.readDisk(target, 33 * MiB, 3 * MiB),
    contentBytes({ offsetMiB: 33, lengthMiB: 3, seed: 'legacy-hvm data' }),
  );
});

test('following the master: a pools entry on a member connects; the master moving mid-way is followed', async (t) => {
  const lab = await startTestLab(t, { scenario: 'fault-host-is-slave' });
  // Login 1 (this connection) is normal; login 2 moves the master to xenserver-2 and answers HOST_IS_SLAVE.
  const first = await connect(lab);
  const second = await connect(lab);
  assert.equal(lab.hosts.find((h) => h.master)?.name, 'xenserver-2');
  assert.equal(second.all('pool')[0]?.master, lab.hosts.find((h) => h.master)?.ref);
  // The first connection's calls still work (a member forwards them), and its transfers follow the 302.
  const hvm = (await first.call<string[]>('VDI.get_by_name_label', 'guest-tools.iso'))[0]!;
  const { stream, task } = await first.exportVdi(hvm, 'raw');
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  await task;
  assert.ok(n > 0);
});
