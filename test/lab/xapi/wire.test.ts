// Raw requests from Node checking XAPI's exact wire behaviour: envelopes per protocol and version, content types,
// value encodings, the order of checks, routing, and malformed requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestLab } from '../../helpers/xapiLab.js';
import { waitFor } from '../../helpers/waitFor.js';
import type { XapiLab } from '../../../src/lab/xapi/index.js';

interface Reply {
  status: number;
  type: string | null;
  body: string;
  headers: Headers;
}

async function post(lab: XapiLab, path: string, body: string, contentType = 'text/xml'): Promise<Reply> {
  const res = await fetch(lab.url + path, { method: 'POST', body, headers: { 'content-type': contentType } });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), headers: res.headers };
}

const json = (lab: XapiLab, payload: unknown) => post(lab, '/jsonrpc', JSON.stringify(payload), 'application/json');

function xmlCall(method: string, ...params: string[]): string {
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param>${p}</param>`).join('')}</params></methodCall>`;
}

async function login(lab: XapiLab): Promise<string> {
  const r = await json(lab, {
    jsonrpc: '2.0',
    id: 1,
    method: 'session.login_with_password',
    params: [lab.username, lab.password],
  });
  return (JSON.parse(r.body) as { result: string }).result;
}

test('JSON-RPC v1 and v2 envelopes, exactly', async (t) => {
  const lab = await startTestLab(t);
  const session = await login(lab);
  const [tpl] = (
    JSON.parse(
      (await json(lab, { id: 2, method: 'VM.get_by_name_label', params: [session, 'Other install media'] })).body,
    ) as { result: string[] }
  ).result;

  const v1 = await json(lab, { id: 7, method: 'VM.get_memory_static_max', params: [session, tpl] });
  assert.equal(v1.status, 200);
  assert.equal(v1.type, 'application/json');
  assert.equal(v1.headers.get('access-control-allow-origin'), '*');
  assert.equal(v1.headers.get('access-control-allow-headers'), 'X-Requested-With');
  assert.equal(v1.body, '{"result":268435456,"error":null,"id":7}');

  const v1err = await json(lab, { id: 'a', method: 'VM.get_power_state', params: [session, 'OpaqueRef:bad'] });
  assert.equal(v1err.body, '{"result":null,"error":["HANDLE_INVALID","VM","OpaqueRef:bad"],"id":"a"}');

  const v2 = await json(lab, { jsonrpc: '2.0', id: 3, method: 'VM.get_is_a_template', params: [session, tpl] });
  assert.equal(v2.body, '{"jsonrpc":"2.0","result":true,"id":3}');

  const v2err = await json(lab, {
    jsonrpc: '2.0',
    id: 4,
    method: 'VM.get_power_state',
    params: [session, 'OpaqueRef:bad'],
  });
  assert.equal(
    v2err.body,
    '{"jsonrpc":"2.0","error":{"code":1,"message":"HANDLE_INVALID","data":["VM","OpaqueRef:bad"]},"id":4}',
  );

  // v2 params may be an object (one struct parameter) or absent.
  const noParams = await json(lab, { jsonrpc: '2.0', id: 5, method: 'system.listMethods' });
  assert.ok((JSON.parse(noParams.body) as { result: string[] }).result.includes('VM.get_all_records'));

  // int64 is a number, datetimes plain strings.
  const created = await json(lab, { jsonrpc: '2.0', id: 6, method: 'VM.get_snapshot_time', params: [session, tpl] });
  assert.equal(created.body, '{"jsonrpc":"2.0","result":"19700101T00:00:00Z","id":6}');
});

test('malformed JSON-RPC ends as an HTTP 500 page, not a JSON-RPC error', async (t) => {
  const lab = await startTestLab(t);
  for (const body of [
    'not json',
    '{"jsonrpc":"2.0","method":"session.logout","params":[]}',
    '{"jsonrpc":"3.0","id":1,"method":"x","params":[]}',
    '{"id":1,"method":"x","params":{}}',
  ]) {
    const r = await post(lab, '/jsonrpc', body, 'application/json');
    assert.equal(r.status, 500, body);
    assert.notEqual(r.type, 'application/json');
  }
});

test('XML-RPC envelopes: one line, Status/Value, Failure without <fault>, bare listMethods', async (t) => {
  const lab = await startTestLab(t);
  const loginReply = await post(
    lab,
    '/',
    xmlCall(
      'session.login_with_password',
      `<value>${lab.username}</value>`,
      `<value><string>${lab.password}</string></value>`,
    ),
  );
  assert.equal(loginReply.type, 'text/xml');
  assert.match(
    loginReply.body,
    /^<\?xml version="1.0"\?><methodResponse><params><param><value><struct><member><name>Status<\/name><value>Success<\/value><\/member><member><name>Value<\/name><value>OpaqueRef:[0-9a-f-]{36}<\/value><\/member><\/struct><\/value><\/param><\/params><\/methodResponse>$/,
  );
  const session = /OpaqueRef:[0-9a-f-]{36}/.exec(loginReply.body)![0];

  // Python pretty-prints its requests and posts to /RPC2; xen-api posts one line to /xmlrpc.
  const pretty = `<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.get_by_name_label</methodName>\n<params>\n<param>\n<value><string>${session}</string></value>\n</param>\n<param>\n<value><string>Other install media</string></value>\n</param>\n</params>\n</methodCall>\n`;
  const found = await post(lab, '/RPC2', pretty);
  const tpl = /<value>(OpaqueRef:[0-9a-f-]{36})<\/value>/.exec(found.body)![1]!;

  const mem = await post(
    lab,
    '/xmlrpc',
    xmlCall('VM.get_memory_static_max', `<value>${session}</value>`, `<value>${tpl}</value>`),
  );
  assert.ok(
    mem.body.includes('<member><name>Value</name><value>268435456</value></member>'),
    'int64 is an untyped value',
  );
  assert.ok(!/>\s+</.test(mem.body), 'no whitespace between tags');

  const flag = await post(
    lab,
    '/',
    xmlCall('VM.get_is_a_template', `<value>${session}</value>`, `<value>${tpl}</value>`),
  );
  assert.ok(flag.body.includes('<value><boolean>1</boolean></value>'));
  const mult = await post(
    lab,
    '/',
    xmlCall('VM.get_HVM_shadow_multiplier', `<value>${session}</value>`, `<value>${tpl}</value>`),
  );
  assert.ok(mult.body.includes('<value><double>1</double></value>'));
  const when = await post(
    lab,
    '/',
    xmlCall('VM.get_snapshot_time', `<value>${session}</value>`, `<value>${tpl}</value>`),
  );
  assert.ok(when.body.includes('<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>'));
  const empty = await post(lab, '/', xmlCall('VM.get_PV_args', `<value>${session}</value>`, `<value>${tpl}</value>`));
  assert.ok(
    empty.body.includes('<member><name>Value</name><value></value></member>'),
    'empty strings are <value></value>',
  );
  const recs = await post(
    lab,
    '/',
    xmlCall('VM.get_recommendations', `<value>${session}</value>`, `<value>${tpl}</value>`),
  );
  assert.ok(
    recs.body.includes(
      '&lt;restrictions&gt;&lt;restriction field=&quot;memory-static-max&quot; max=&quot;137438953472&quot;/&gt;',
    ),
    'XML text is escaped',
  );

  const failure = await post(
    lab,
    '/',
    xmlCall('VM.get_record', `<value>${session}</value>`, '<value>OpaqueRef:NULL</value>'),
  );
  assert.equal(
    failure.body,
    '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:NULL</value></data></array></value></member></struct></value></param></params></methodResponse>',
  );
  assert.ok(!failure.body.includes('<fault>'));

  const methods = await post(lab, '/foo', xmlCall('system.listMethods'));
  assert.match(
    methods.body,
    /^<\?xml version="1.0"\?><methodResponse><params><param><value><array><data><value>system.listMethods<\/value>/,
  );

  const malformed = await post(lab, '/', '<methodCall><oops/></methodCall>');
  assert.equal(malformed.status, 500);
});

test('the order of checks: count, types, session, method, handles, preconditions', async (t) => {
  const lab = await startTestLab(t);
  const session = await login(lab);
  const call = async (method: string, params: unknown[]) => {
    const r = await json(lab, { jsonrpc: '2.0', id: 1, method, params });
    const parsed = JSON.parse(r.body) as { result?: unknown; error?: { message: string; data: string[] } };
    return parsed.error ? [parsed.error.message, ...parsed.error.data] : parsed.result;
  };
  // Count before the session: a bad session with the wrong count still reports the count.
  assert.deepEqual(await call('VM.start', ['OpaqueRef:nope', 'OpaqueRef:x']), [
    'MESSAGE_PARAMETER_COUNT_MISMATCH',
    'VM.start',
    '3',
    '1',
  ]);
  assert.deepEqual(await call('Async.VM.start', [session]), ['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.start', '3', '0']);
  // Defaulted trailing parameters: login takes 2 to 4, VM.snapshot 2 to 3.
  assert.equal(
    typeof (await call('session.login_with_password', [lab.username, lab.password, '1.0', 'test'])),
    'string',
  );
  assert.deepEqual(await call('session.login_with_password', [lab.username]), [
    'MESSAGE_PARAMETER_COUNT_MISMATCH',
    'session.login_with_password',
    '2',
    '1',
  ]);
  // Types before the session.
  assert.deepEqual(await call('VM.start', ['OpaqueRef:nope', 'OpaqueRef:x', 'false', false]), [
    'INTERNAL_ERROR',
    `Failure("Expected bool, got 'S(false)'")`,
  ]);
  // Session before the implementation.
  assert.deepEqual(await call('VM.start', ['OpaqueRef:nope', 'OpaqueRef:x', false, false]), [
    'SESSION_INVALID',
    'OpaqueRef:nope',
  ]);
  // Unknown methods: session first when there are parameters.
  assert.deepEqual(await call('VM.frobnicate', ['OpaqueRef:nope']), ['SESSION_INVALID', 'OpaqueRef:nope']);
  assert.deepEqual(await call('VM.frobnicate', [session]), ['MESSAGE_METHOD_UNKNOWN', 'VM.frobnicate']);
  assert.deepEqual(await call('VM.frobnicate', []), ['MESSAGE_METHOD_UNKNOWN', 'VM.frobnicate']);
  // `_` for `.`, including class names with underscores.
  assert.deepEqual(await call('VM_get_all', [session]), await call('VM.get_all', [session]));
  assert.deepEqual(await call('VM_guest_metrics_get_all', [session]), []);
  // Handles, uuids, names.
  assert.deepEqual(await call('VM.get_record', [session, 'OpaqueRef:NULL']), [
    'HANDLE_INVALID',
    'VM',
    'OpaqueRef:NULL',
  ]);
  const [sr] = (await call('SR.get_all', [session])) as string[];
  assert.deepEqual(await call('VM.get_record', [session, sr]), ['HANDLE_INVALID', 'VM', sr], 'a ref of another class');
  assert.deepEqual(await call('VM.get_by_uuid', [session, '00000000-0000-0000-0000-000000000000']), [
    'UUID_INVALID',
    'VM',
    '00000000-0000-0000-0000-000000000000',
  ]);
  assert.deepEqual(await call('VM.get_by_name_label', [session, 'no such VM']), []);
  // Numeric strings are accepted for int parameters (Python and xen-api's XML-RPC send them).
  const [tpl] = (await call('VM.get_by_name_label', [session, 'Other install media'])) as string[];
  const clone = (await call('VM.clone', [session, tpl, 'w'])) as string;
  assert.equal(await call('VM.set_VCPUs_max', [session, clone, '4']), '');
  assert.equal(await call('VM.get_VCPUs_max', [session, clone]), 4);
  // Preconditions: power state before template.
  assert.deepEqual(await call('VM.clean_shutdown', [session, clone]), [
    'VM_BAD_POWER_STATE',
    clone,
    'running',
    'halted',
  ]);
  assert.deepEqual(await call('VM.start', [session, clone, false, false]), ['VM_IS_TEMPLATE', clone, 'start']);
  assert.deepEqual(await call('VM.destroy', [session, tpl]), ['VM_CANNOT_DELETE_DEFAULT_TEMPLATE', tpl]);
  // No async mode for getters.
  assert.deepEqual(await call('Async.VM.get_record', [session, tpl]), [
    'Fault',
    'No async mode for this operation (rpc: VM.get_record)',
  ]);
  // Map rules.
  assert.deepEqual(await call('VM.add_to_platform', [session, clone, 'viridian', 'false']), [
    'MAP_DUPLICATE_KEY',
    'VM',
    'platform',
    clone,
    'viridian',
  ]);
  assert.equal(await call('VM.remove_from_platform', [session, clone, 'no-such-key']), '');
  // A constructor record missing a required member.
  assert.deepEqual(await call('VBD.create', [session, { VM: clone }]), [
    'INTERNAL_ERROR',
    'Server_helpers.Dispatcher_FieldNotFound("VDI")',
  ]);
});

test('Async calls return a task whose result is XML-RPC text, also under JSON-RPC', async (t) => {
  const lab = await startTestLab(t);
  const session = await login(lab);
  const call = async (method: string, params: unknown[]) =>
    (JSON.parse((await json(lab, { jsonrpc: '2.0', id: 1, method, params })).body) as { result: unknown }).result;
  const [tpl] = (await call('VM.get_by_name_label', [session, 'Other install media'])) as string[];
  const task = (await call('Async.VM.clone', [session, tpl, 'async-clone'])) as string;
  assert.match(task, /^OpaqueRef:/);
  /** The task's record once it is no longer pending. */
  const finished = (ref: string) =>
    waitFor(
      `task ${ref} to finish`,
      async () => {
        const r = (await call('task.get_record', [session, ref])) as Record<string, unknown>;
        return r.status !== 'pending' && r;
      },
      10_000,
      5,
    );
  let record = await finished(task);
  assert.equal(record.status, 'success');
  assert.equal(record.name_label, 'Async.VM.clone');
  assert.equal(record.progress, 1);
  assert.match(record.result as string, /^<value>OpaqueRef:[0-9a-f-]{36}<\/value>$/);
  assert.deepEqual(record.error_info, []);
  const failing = (await call('Async.VM.start', [session, tpl, false, false])) as string;
  record = await finished(failing);
  assert.equal(record.status, 'failure');
  assert.deepEqual(record.error_info, ['VM_IS_TEMPLATE', tpl, 'start']);
});

test('routing: CORS preflight, 404 elsewhere', async (t) => {
  const lab = await startTestLab(t);
  const pre = await fetch(lab.url + '/jsonrpc', { method: 'OPTIONS' });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  const missing = await fetch(lab.url + '/nothing-here');
  assert.equal(missing.status, 404);
});

test('idle sessions expire (SESSION_INVALID); a logged-out session is invalid', async (t) => {
  const { loadScenario } = await import('../../../src/lab/scenarios/load.js');
  const lab = await startTestLab(t, {
    scenario: { ...(await loadScenario('default')), name: 'short-sessions', sessionIdleTimeoutMs: 200 },
  });
  const session = await login(lab);
  const call = async (s: string) =>
    JSON.parse((await json(lab, { jsonrpc: '2.0', id: 1, method: 'pool.get_all', params: [s] })).body) as {
      result?: string[];
      error?: { message: string };
    };
  assert.equal((await call(session)).result?.length, 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await call(session)).error?.message, 'SESSION_INVALID');
  const fresh = await login(lab);
  await json(lab, { jsonrpc: '2.0', id: 1, method: 'session.logout', params: [fresh] });
  assert.equal((await call(fresh)).error?.message, 'SESSION_INVALID');
});
