// The `windows-ready` scenario: one installed, running Windows VM that pywinrm and our client reach through the
// lab; its state lives on its disk, so a snapshot and a revert bring back exactly the snapshot's Windows.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { WinrmClient } from '../../../src/winrm/index.js';
import { labClient, labGuests, startTestLab } from '../../helpers/xapiLab.js';
import { guestMetrics } from './labVm.js';
import { waitFor } from '../../helpers/waitFor.js';

test('windows-ready: a running Windows with PV tools and WinRM, reachable by pywinrm and by our client', async (t) => {
  const lab = await startTestLab(t, { speed: 0.002, scenario: 'windows-ready' });
  const xapi = await labClient(lab);
  const guests = await labGuests(lab);
  const g = await waitFor('the windows-ready guest', () => guests.guests().find((x) => x.vm === 'windows-ready'));
  assert.equal(g.https, false);
  assert.equal(g.username, 'Administrator');
  assert.ok(g.password && g.password.length >= 20);
  const [vm] = await xapi.call<string[]>('VM.get_by_name_label', 'windows-ready');
  const metrics = await waitFor('guest metrics', () => guestMetrics(xapi, vm!));
  assert.equal((metrics.networks as Record<string, string>)['0/ip'], g.address);

  const script = `import winrm, json\ns = winrm.Session('http://${g.address}:${g.port}/wsman', auth=('${g.username}', ${JSON.stringify(g.password)}), transport='basic', operation_timeout_sec=2, read_timeout_sec=4)\nr = s.run_cmd('sc', ['query', 'xenagent'])\nprint(json.dumps({'code': r.status_code, 'out': r.std_out.decode()}))`;
  const py = JSON.parse((await promisify(execFile)('/usr/bin/python3', ['-c', script])).stdout) as {
    code: number;
    out: string;
  };
  assert.equal(py.code, 0);
  assert.match(py.out, /STATE\s+: 4 {2}RUNNING/);

  const client = new WinrmClient({
    host: g.address,
    port: g.port,
    https: false,
    username: g.username,
    password: g.password!,
  });
  t.after(() => client.close());
  assert.equal((await client.run('hostname')).stdout.toString().trim(), 'WIN-READY');

  // State on the disk: snapshot, change Windows, revert → the change is gone after the next boot.
  const snap = await xapi.callAsync<string>('VM.snapshot', vm, 'before-user');
  assert.equal((await client.run('net', ['user', 'temp1', 'Temp-Pw-123!', '/add', '/y'])).exitCode, 0);
  assert.equal((await client.run('net', ['user', 'temp1'])).exitCode, 0);
  await xapi.callAsync('VM.revert', snap);
  await xapi.callAsync('VM.start', vm, false, false);
  const back = await waitFor('WinRM after the revert', () => guests.guests().find((x) => x.vm === 'windows-ready'));
  const c2 = new WinrmClient({
    host: back.address,
    port: back.port,
    https: false,
    username: 'Administrator',
    password: g.password!,
  });
  t.after(() => c2.close());
  const afterRevert = await waitFor('a command after the revert', async () =>
    c2.run('net', ['user', 'temp1']).catch(() => undefined),
  );
  assert.equal(afterRevert.exitCode, 2);
  assert.match(afterRevert.stderr.toString(), /The user name could not be found/);
});

test('guest faults in a scenario are validated by the guest schema', async () => {
  const { parseGuestScenario } = await import('../../../src/lab/guest/scenario.js');
  assert.throws(
    () => parseGuestScenario({}, [{ kind: 'msi-exit', code: 1234 }]),
    (e: Error & { type: string }) => e.type === 'InvalidInput' && /faults\.guest\.0/.test(e.message),
  );
  assert.throws(() => parseGuestScenario({ windows: [{ vm: 'x', unknown: 1 }] }, []), /guests\.windows\.0/);
  const ok = parseGuestScenario({ windows: [{ vm: 'x' }] }, [
    { kind: 'sysprep-appx' },
    { kind: 'winrm-timeout', operation: 'Receive', times: 3 },
  ]);
  assert.equal(ok.faults.length, 2);
  assert.equal(ok.guests.windows[0]?.winrm.transport, 'http');
});

test('windows-ready: a VM reset during a command drops the connection, XAPI sees the reboot, WinRM comes back', async (t) => {
  const lab = await startTestLab(t, { speed: 0.002, scenario: 'windows-ready' });
  const xapi = await labClient(lab);
  const guests = await labGuests(lab, {
    faults: [{ kind: 'reset-during-command', vm: 'windows-ready', match: 'ping' }],
  });
  const g = await waitFor('the windows-ready guest', () => guests.guests().find((x) => x.vm === 'windows-ready'));
  const [vm] = await xapi.call<string[]>('VM.get_by_name_label', 'windows-ready');
  const domid = await xapi.call<number | string>('VM.get_domid', vm);
  const client = new WinrmClient({
    host: g.address,
    port: g.port,
    https: false,
    username: g.username,
    password: g.password!,
  });
  t.after(() => client.close());
  await assert.rejects(
    client.run('ping', ['-n', '30', '127.0.0.1']),
    (e: { type: string; retryable: boolean }) =>
      ['WinrmConnectionLost', 'WinrmUnreachable'].includes(e.type) && e.retryable,
  );
  await waitFor(
    'a new domain',
    async () => String(await xapi.call<number | string>('VM.get_domid', vm)) !== String(domid),
  );
  const back = await waitFor('WinRM after the reset', () => guests.guests().find((x) => x.vm === 'windows-ready'));
  const c2 = new WinrmClient({
    host: back.address,
    port: back.port,
    https: false,
    username: g.username,
    password: g.password!,
  });
  t.after(() => c2.close());
  const r = await waitFor('a command after the reset', async () => c2.run('hostname').catch(() => undefined));
  assert.equal(r.stdout.toString().trim(), 'WIN-READY');
});
