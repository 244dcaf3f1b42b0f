// Every shipped scenario starts as named on a fresh state folder, again on its own state, and on the state of the
// `default` pool: there it is applied (what it adds is added), or refused before anything changes when it
// describes another pool, with a message naming the state's scenario and --fresh. The state is private: folders
// 0700, files with secrets 0600, the root password only as a salted hash.
import assert from 'node:assert/strict';
import { cp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { InvalidInputError } from '../../../src/errors.js';
import { listScenarios, loadScenario } from '../../../src/lab/scenarios/load.js';
import type { XapiLab } from '../../../src/lab/xapi/index.js';
import { labClient, labStateDir, startTestLab } from '../../helpers/xapiLab.js';

/** Scenarios that describe another pool than `default` (product, pool name): refused on its state. */
const OTHER_POOLS = new Set(['xcp-ng-8.3', 'xcp-ng-8.2']);

const vmNames = (lab: XapiLab) =>
  lab
    .describe()
    .vms.map((v) => v.name)
    .sort();

test('every shipped scenario starts as named: fresh, on its own state, and applied to (or refused on) default’s', async (t) => {
  const base = await labStateDir(t);
  const defaultLab = await startTestLab(t, { stateDir: base, scenario: 'default' });
  assert.equal(defaultLab.state.action, 'fresh');
  await defaultLab.stop();

  for (const name of await listScenarios()) {
    const scenario = await loadScenario(name);
    const expectedVms = scenario.vms.map((v) => v.name).sort();

    const own = await labStateDir(t);
    const fresh = await startTestLab(t, { stateDir: own, scenario: name });
    assert.deepEqual([fresh.state.action, fresh.state.madeBy, fresh.state.scenario], ['fresh', name, name]);
    assert.deepEqual(vmNames(fresh), expectedVms, `${name}: its VMs`);
    await fresh.stop();
    const again = await startTestLab(t, { stateDir: own, scenario: name });
    assert.deepEqual([again.state.action, again.state.madeBy], ['resumed', name], `${name} on its own state`);
    assert.deepEqual(vmNames(again), expectedVms);
    await again.stop();

    const onDefault = await labStateDir(t);
    await cp(base, onDefault, { recursive: true });
    if (OTHER_POOLS.has(name)) {
      const before = await readFile(path.join(onDefault, 'xapi/state.json'));
      await assert.rejects(
        startTestLab(t, { stateDir: onDefault, scenario: name }),
        (err: unknown) =>
          err instanceof InvalidInputError &&
          err.message.includes('scenario "default"') &&
          err.message.includes(`scenario "${name}"`) &&
          err.message.includes('--fresh'),
        `${name} is refused on the default pool's state`,
      );
      assert.deepEqual(await readFile(path.join(onDefault, 'xapi/state.json')), before, 'nothing changed');
      const restarted = await startTestLab(t, { stateDir: onDefault, scenario: name, fresh: true });
      assert.deepEqual([restarted.state.action, restarted.state.madeBy], ['fresh', name], `${name} --fresh`);
      assert.deepEqual(vmNames(restarted), expectedVms);
      await restarted.stop();
      continue;
    }
    const applied = await startTestLab(t, { stateDir: onDefault, scenario: name });
    const adds = expectedVms.length > 0 || scenario.hosts.length > 1 || name === 'xenserver-8';
    assert.deepEqual(
      [applied.state.action, applied.state.madeBy, applied.state.scenario],
      [adds ? 'applied' : 'resumed', 'default', name],
      `${name} on the default pool's state`,
    );
    assert.deepEqual(applied.state.added.vms.sort(), expectedVms);
    assert.deepEqual(vmNames(applied), expectedVms, `${name}: its VMs were added`);
    assert.equal(applied.hosts.length, scenario.hosts.length, `${name}: its hosts`);
    const isos = new Set(applied.describe().isos.map((i) => i.name));
    for (const sr of scenario.srs) for (const iso of sr.isos) assert.ok(isos.has(iso.file), `${name}: ${iso.file}`);
    await applied.stop();
  }
});

test('applied state: a second host joins with its PBDs and PIFs and answers; the scenario history is kept', async (t) => {
  const stateDir = await labStateDir(t);
  const first = await startTestLab(t, { stateDir, scenario: 'default' });
  await first.stop();
  const lab = await startTestLab(t, { stateDir, scenario: 'two-hosts' });
  assert.deepEqual(lab.state.added.hosts, ['xenserver-2']);
  assert.deepEqual(lab.state.applied, ['two-hosts']);
  const xapi = await labClient(lab);
  const [host2] = await xapi.call<string[]>('host.get_by_name_label', 'xenserver-2');
  const pbds = await xapi.call<string[]>('host.get_PBDs', host2);
  assert.equal(pbds.length, (await xapi.call<string[]>('SR.get_all')).length, 'a PBD per SR');
  assert.equal((await xapi.call<string[]>('host.get_PIFs', host2)).length, 1);
  const res = await fetch(`${lab.slaveUrl}/jsonrpc`, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'session.login_with_password', params: ['root', 'x'] }),
    headers: { 'content-type': 'application/json' },
  });
  const answer = (await res.json()) as { error?: { message: string; data: string[] } };
  assert.deepEqual([answer.error?.message, ...(answer.error?.data ?? [])], ['HOST_IS_SLAVE', '127.0.0.1']);
});

/** A JSON-RPC login: the session ref, or the error code. */
async function login(url: string, password: string): Promise<string> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'session.login_with_password', params: ['root', password] }),
    headers: { 'content-type': 'application/json' },
  });
  const body = (await res.json()) as { result?: string; error?: { message: string } };
  return body.result ?? body.error?.message ?? '';
}

async function mode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

test('private lab state: folders 0700, secrets and state 0600, the root password only as a salted hash', async (t) => {
  const stateDir = await labStateDir(t);
  const lab = await startTestLab(t, { stateDir, scenario: 'default' });
  const xapiDir = path.join(stateDir, 'xapi');
  assert.equal(await mode(xapiDir), 0o700);
  assert.equal(await mode(lab.secretsDir), 0o700);
  assert.equal(await mode(path.join(xapiDir, 'state.json')), 0o600);
  assert.equal(await mode(lab.passwordFile), 0o600);
  assert.equal(await mode(lab.poolsFile), 0o600);
  for (const f of await readdir(path.join(xapiDir, 'tls')))
    if (f.endsWith('.key')) assert.equal(await mode(path.join(xapiDir, 'tls', f)), 0o600, f);
  assert.equal(await readFile(lab.passwordFile, 'utf8'), lab.password);
  const state = await readFile(path.join(xapiDir, 'state.json'), 'utf8');
  assert.ok(!state.includes(lab.password), 'state.json never holds the password');
  assert.match(state, /"passwordHash":"scrypt\$4096\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+"/);
  const pools = await readFile(lab.poolsFile, 'utf8');
  assert.ok(!pools.includes(lab.password));
  assert.match(pools, /url: https:\/\/127\.0\.0\.1:\d+/);
  assert.match(pools, /ca: .*tls\/ca\.pem/);
  assert.match(await login(lab.url, lab.password), /^OpaqueRef:/, 'a login is checked against the hash');
  const password = lab.password;
  await lab.stop();

  const again = await startTestLab(t, { stateDir, scenario: 'default' });
  assert.equal(again.password, password, 'the restarted lab takes the password from its file');
  await again.stop();
  // A lost password file: a new root password is set (as an administrator resets a host's), the old one fails.
  await rm(again.passwordFile);
  const reset = await startTestLab(t, { stateDir, scenario: 'default' });
  assert.notEqual(reset.password, password);
  assert.equal(await readFile(reset.passwordFile, 'utf8'), reset.password);
  assert.equal(await login(reset.url, password), 'SESSION_AUTHENTICATION_FAILED');
  assert.match(await login(reset.url, reset.password), /^OpaqueRef:/);
});

test('a state written before the password hash (version 1, clear password) is migrated: file 0600, hash only', async (t) => {
  const stateDir = await labStateDir(t);
  const lab = await startTestLab(t, { stateDir, scenario: 'existing-vms' });
  const password = lab.password;
  await lab.stop();
  const file = path.join(stateDir, 'xapi/state.json');
  const v2 = JSON.parse(await readFile(file, 'utf8')) as {
    version: number;
    private: Record<string, unknown> & { credentials: { username: string } };
  };
  const { applied: _a, product: _p, httpsPort: _h, extraAddresses: _e, nextIpv6: _n, ...rest } = v2.private;
  const v1 = {
    ...v2,
    version: 1,
    private: { ...rest, credentials: { username: v2.private.credentials.username, password } },
  };
  await writeFile(file, JSON.stringify(v1));
  await rm(lab.passwordFile);

  const migrated = await startTestLab(t, { stateDir, scenario: 'existing-vms' });
  assert.equal(migrated.password, password, 'the clear password of the old state is the root password still');
  assert.equal(await readFile(migrated.passwordFile, 'utf8'), password);
  assert.equal(await mode(migrated.passwordFile), 0o600);
  assert.deepEqual(vmNames(migrated).sort(), ['debian-pv', 'legacy-hvm']);
  await migrated.stop();
  const state = await readFile(file, 'utf8');
  assert.ok(!state.includes(password), 'the migrated state keeps only the hash');
  assert.equal((JSON.parse(state) as { version: number }).version, 2);
});
