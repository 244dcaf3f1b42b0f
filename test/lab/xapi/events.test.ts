// event.from and event.inject as XAPI serves them, and the xen-api event cache built on them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestLab, labClient } from '../../helpers/xapiLab.js';
import type { XapiLab } from '../../../src/lab/xapi/index.js';

interface Batch {
  events: Array<{
    id: string;
    timestamp: string;
    class: string;
    operation: string;
    ref: string;
    snapshot?: Record<string, unknown>;
  }>;
  valid_ref_counts: Record<string, number>;
  token: string;
}

function rpc(lab: XapiLab) {
  return async <T>(method: string, ...params: unknown[]): Promise<T> => {
    const res = await fetch(lab.url + '/jsonrpc', {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      headers: { 'content-type': 'application/json' },
    });
    const body = (await res.json()) as { result?: T; error?: { message: string; data: string[] } };
    if (body.error)
      throw Object.assign(new Error(body.error.message), { description: [body.error.message, ...body.error.data] });
    return body.result as T;
  };
}

async function session(lab: XapiLab) {
  const call = rpc(lab);
  const s = await call<string>('session.login_with_password', lab.username, lab.password);
  return <T>(method: string, ...params: unknown[]) => call<T>(method, s, ...params);
}

test('a long poll: waits for a change, returns it promptly, or returns empty at the timeout', async (t) => {
  const lab = await startTestLab(t);
  const call = await session(lab);
  const first = await call<Batch>('event.from', ['VM'], '', 5.0);
  assert.ok(first.events.length > 0, 'an empty token returns every existing object as add');
  assert.ok(first.events.every((e) => e.operation === 'add' && e.class === 'vm' && e.snapshot));
  assert.match(first.token, /^\d{20},\d{20}$/);
  assert.equal(typeof first.valid_ref_counts.task, 'number');
  assert.equal(first.valid_ref_counts.vm, first.events.length);

  const started = Date.now();
  const empty = await call<Batch>('event.from', ['vm'], first.token, 0.3);
  assert.deepEqual(empty.events, []);
  assert.ok(Date.now() - started >= 250, 'no change: waits for the timeout');
  assert.ok(empty.valid_ref_counts.vm !== undefined);

  const [tpl] = await call<string[]>('VM.get_by_name_label', 'Other install media');
  const pending = call<Batch>('event.from', ['vm'], empty.token, 30.0);
  await new Promise((r) => setTimeout(r, 50));
  const before = Date.now();
  await call('VM.set_name_description', tpl, 'changed');
  const batch = await pending;
  assert.ok(Date.now() - before < 2000, 'returns soon after the change, not at the timeout');
  const mod = batch.events.find((e) => e.ref === tpl);
  assert.equal(mod?.operation, 'mod');
  assert.equal(mod?.snapshot?.name_description, 'changed');
  assert.equal(mod?.timestamp, '0.0');
});

test('coalescing per object: one event with the latest snapshot; created-and-deleted objects vanish', async (t) => {
  const lab = await startTestLab(t);
  const call = await session(lab);
  const { token } = await call<Batch>('event.from', ['task', 'vm'], '', 0.0);
  const [tpl] = await call<string[]>('VM.get_by_name_label', 'Other install media');
  await call('VM.set_name_description', tpl, 'one');
  await call('VM.set_name_description', tpl, 'two');
  const transient = await call<string>('task.create', 'transient', '');
  await call('task.set_status', transient, 'success');
  await call('task.destroy', transient);
  const kept = await call<string>('task.create', 'kept', '');
  await call('task.set_progress', kept, 0.5);
  const batch = await call<Batch>('event.from', ['task', 'vm'], token, 5.0);
  const forTpl = batch.events.filter((e) => e.ref === tpl);
  assert.equal(forTpl.length, 1);
  assert.equal(forTpl[0]?.snapshot?.name_description, 'two');
  assert.ok(!batch.events.some((e) => e.ref === transient));
  const keptEvents = batch.events.filter((e) => e.ref === kept);
  assert.deepEqual(
    keptEvents.map((e) => e.operation),
    ['add'],
  );
  assert.equal(keptEvents[0]?.snapshot?.progress, 0.5);
  // A pending task is only marked by task.destroy; it goes when it finishes (a del event, no snapshot).
  await call('task.destroy', kept);
  assert.deepEqual(await call('task.get_current_operations', kept), { task: 'destroy' });
  await call('task.set_status', kept, 'success');
  const del = await call<Batch>('event.from', ['task'], batch.token, 5.0);
  assert.deepEqual(
    del.events.map((e) => [e.operation, e.ref, 'snapshot' in e]),
    [['del', kept, false]],
  );
});

test('subscriptions: class/ref, "*", any case, unknown classes ignored; bad tokens; event.inject', async (t) => {
  const lab = await startTestLab(t);
  const call = await session(lab);
  const [tpl, other] = (await call<string[]>('VM.get_all')).filter((r) => r);
  const { token } = await call<Batch>('event.from', ['*'], '', 0.0);
  await call('VM.set_name_description', tpl, 'x');
  await call('VM.set_name_description', other, 'y');
  const one = await call<Batch>('event.from', [`vm/${tpl}`, 'message', 'no_such_class'], token, 5.0);
  assert.deepEqual(
    one.events.map((e) => e.ref),
    [tpl],
  );
  const all = await call<Batch>('event.from', ['Vm'], token, 5.0);
  assert.deepEqual(new Set(all.events.map((e) => e.ref)), new Set([tpl, other]));
  await assert.rejects(call('event.from', ['vm'], 'garbage', 1.0), (err: { description: string[] }) => {
    assert.deepEqual(err.description, ['EVENT_FROM_TOKEN_PARSE_FAILURE', 'garbage']);
    return true;
  });
  const pool = (await call<string[]>('pool.get_all'))[0]!;
  const injected = await call<string>('event.inject', 'pool', pool);
  const after = await call<Batch>('event.from', ['pool'], injected, 5.0);
  assert.deepEqual(
    after.events.map((e) => [e.operation, e.ref]),
    [['mod', pool]],
    'the token precedes the injected change',
  );
  await assert.rejects(call('event.inject', 'pool', tpl), (err: { description: string[] }) => {
    assert.deepEqual(err.description, ['HANDLE_INVALID', 'pool', tpl]);
    return true;
  });
});

test('a logout ends an event.from blocked on that session with SESSION_INVALID', async (t) => {
  const lab = await startTestLab(t);
  const call = rpc(lab);
  const s = await call<string>('session.login_with_password', lab.username, lab.password);
  const { token } = await call<Batch>('event.from', s, ['vm'], '', 0.0);
  const blocked = call('event.from', s, ['vm'], token, 30.0);
  await new Promise((r) => setTimeout(r, 50));
  await call('session.logout', s);
  await assert.rejects(blocked, (err: { description: string[] }) => {
    assert.deepEqual(err.description, ['SESSION_INVALID', s]);
    return true;
  });
});

test('xen-api keeps a coherent cache from events: identical field sets, back-references, tasks', async (t) => {
  const lab = await startTestLab(t);
  const xapi = await labClient(lab);
  await xapi.objectsFetched;
  const vms = Object.values(xapi.objects.all).filter((o) => o.$type === 'VM');
  const keys = new Set(vms.map((v) => Object.keys(v).sort().join(',')));
  assert.equal(keys.size, 1, 'every VM record has the same field set');
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
  const clone = await xapi.callAsync<string>('VM.clone', tpl, 'cache-test');
  const net = (await xapi.call<string[]>('network.get_all'))[0]!;
  const vif = await xapi.call<string>('VIF.create', {
    device: '0',
    network: net,
    VM: clone,
    MAC: '',
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  await xapi.barrier();
  assert.deepEqual(xapi.getObjectByRef(clone).VIFs, [vif]);
  assert.ok((xapi.getObjectByRef(net).VIFs as string[]).includes(vif));
  assert.equal(xapi.getObjectByRef(vif).network, net);
  await xapi.call('VIF.destroy', vif);
  await xapi.barrier();
  assert.deepEqual(xapi.getObjectByRef(clone).VIFs, []);
  assert.ok(!(xapi.getObjectByRef(net).VIFs as string[]).includes(vif));
  // Task records arrive through events and settle callAsync (which destroys them afterwards).
  const before = Object.values(xapi.objects.all).filter((o) => o.$type === 'task').length;
  await xapi.callAsync('VM.set_memory_limits', clone, 128 * 2 ** 20, 512 * 2 ** 20, 512 * 2 ** 20, 512 * 2 ** 20);
  await xapi.barrier();
  assert.equal(Object.values(xapi.objects.all).filter((o) => o.$type === 'task').length, before);
});
