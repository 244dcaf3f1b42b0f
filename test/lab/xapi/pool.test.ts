// A pool with two hosts: logins on a member answer HOST_IS_SLAVE with the master's address, clients follow the
// master, transfer handlers on a member redirect with a 302 on the same scheme, and the master can move.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { test } from 'node:test';
import { createClient } from 'xen-api';
import { beforeLabStops, labClient, startTestLab } from '../../helpers/xapiLab.js';

async function jsonCall(
  url: string,
  method: string,
  params: unknown[],
): Promise<{ result?: unknown; error?: { message: string; data: string[] } }> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    headers: { 'content-type': 'application/json' },
  });
  return (await res.json()) as { result?: unknown; error?: { message: string; data: string[] } };
}

test('HOST_IS_SLAVE on a member, clients follow the master, 302 from member transfer handlers', async (t) => {
  const lab = await startTestLab(t, { scenario: 'two-hosts' });
  assert.equal(lab.hosts.length, 2);
  const slave = lab.slaveUrl!;
  assert.match(slave, /^http:\/\/127\.0\.0\.2:\d+$/);
  const refused = await jsonCall(slave, 'session.login_with_password', [lab.username, 'wrong password too']);
  assert.deepEqual(
    [refused.error?.message, ...(refused.error?.data ?? [])],
    ['HOST_IS_SLAVE', '127.0.0.1'],
    'checked before the password',
  );

  const xapi = createClient({
    url: slave,
    auth: { user: lab.username, password: lab.password },
    eventPollDelay: 500,
    debounce: 20,
  });
  beforeLabStops(lab, () => xapi.disconnect());
  await xapi.connect();
  assert.equal(xapi.pool.name_label, 'xenimage-lab');

  const [vdi] = await xapi.call<string[]>('VDI.get_by_name_label', 'guest-tools.iso');
  const res = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = request(`${slave}/export_raw_vdi?vdi=${vdi}&format=raw&session_id=${xapi.sessionId}`, (r) => {
      r.resume();
      resolve({ status: r.statusCode ?? 0, location: r.headers.location });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 302);
  assert.equal(res.location, `${lab.url}/export_raw_vdi?vdi=${vdi}&format=raw&session_id=${xapi.sessionId}`);
  // Over HTTPS the member redirects to the master over HTTPS (no downgrade), verified with the pool's CA.
  const member = lab.hosts.find((h) => !h.master)!;
  const ca = await readFile(lab.caFile, 'utf8');
  const secure = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = httpsRequest(
      `${member.httpsUrl}/export_raw_vdi?vdi=${vdi}&format=raw&session_id=${xapi.sessionId}`,
      { ca },
      (r) => {
        r.resume();
        resolve({ status: r.statusCode ?? 0, location: r.headers.location });
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(secure.status, 302);
  assert.equal(secure.location, `${lab.httpsUrl}/export_raw_vdi?vdi=${vdi}&format=raw&session_id=${xapi.sessionId}`);
  assert.match(lab.httpsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  // Calls with a session work on a member too (forwarded to the master, as a pool member does).
  const viaSlave = await jsonCall(slave, 'pool.get_all', [xapi.sessionId]);
  assert.equal((viaSlave.result as string[]).length, 1);
});

test('the master moves: the old master answers HOST_IS_SLAVE with the new address', async (t) => {
  const lab = await startTestLab(t, { scenario: 'two-hosts' });
  const xapi = await labClient(lab);
  const second = lab.hosts.find((h) => !h.master)!;
  await xapi.call('pool.designate_new_master', second.ref);
  const refused = await jsonCall('http://127.0.0.1:' + new URL(lab.url).port, 'session.login_with_password', [
    lab.username,
    lab.password,
  ]);
  assert.deepEqual([refused.error?.message, ...(refused.error?.data ?? [])], ['HOST_IS_SLAVE', '127.0.0.2']);
  assert.equal(lab.url, second.url);
});
