// `xenimage lab` as an operator runs it (the built CLI, a child process; Temporal and the cloud configured
// elsewhere so only the XenServer lab and its guests start): the ready line comes once the scenario's guests
// answer, names 0600 password files and holds no password; a scenario on an existing state is applied, or
// refused with the state's scenario and --fresh; --fresh starts a new pool.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { test } from 'node:test';
import type { ReadyLine } from '../../../src/lab/index.js';
import { CLI, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

/** The environment of the command: its own state folder, the secrets and pools file inside it. */
function env(stateDir: string): Record<string, string> {
  const base = { ...process.env } as Record<string, string>;
  for (const k of ['XENIMAGE_SECRETS_DIR', 'XENIMAGE_POOLS_FILE', 'XENIMAGE_CONFIG', 'OS_CLIENT_CONFIG_FILE'])
    delete base[k];
  return {
    ...base,
    XENIMAGE_STATE_DIR: stateDir,
    // Services of their own elsewhere: the command starts no dev server and no Keystone/Glance.
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    OS_CLOUD: 'elsewhere',
    XENIMAGE_LAB_SPEED: '0.002',
    XENIMAGE_LOG_LEVEL: 'warn',
  };
}

interface Running {
  ready: ReadyLine;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts `xenimage lab ARGS` and waits for its ready line. */
async function lab(t: { after(fn: () => Promise<unknown>): void }, stateDir: string, args: string[]): Promise<Running> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [CLI, 'lab', ...args], {
    env: env(stateDir),
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  t.after(stop);
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in time; stderr: ${stderr}`)), 120_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as ReadyLine);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`xenimage lab exited ${code} before its ready line: ${stderr}`));
    });
  });
  return { ready, stderr: () => stderr, stop };
}

/** Any HTTP answer from a WS-Management listener (401 without credentials). */
function wsmanStatus(address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path: '/wsman', method: 'POST' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const mode = async (file: string) => (await stat(file)).mode & 0o777;

test('xenimage lab: ready once the guests answer, password files not passwords; scenarios on existing state', async (t) => {
  const stateDir = path.join(await tempDir(t), 'state');

  const first = await lab(t, stateDir, ['--scenario', 'default']);
  assert.equal(first.ready.state.action, 'fresh');
  assert.match(first.stderr(), /lab state: a new pool from scenario "default"/);
  assert.deepEqual(first.ready.guests, []);
  assert.equal(await first.stop(), 0);

  // windows-ready on default's state: applied (its VM added), and the ready line waits for the guest.
  const second = await lab(t, stateDir, ['--scenario', 'windows-ready']);
  const { ready } = second;
  assert.deepEqual(
    [ready.state.action, ready.state.madeBy, ready.state.added.vms],
    ['applied', 'default', ['windows-ready']],
  );
  assert.match(
    second.stderr(),
    /applied scenario "windows-ready" to the pool of scenario "default".*vms windows-ready/,
  );
  assert.equal(ready.guests.length, 1);
  const guest = ready.guests[0]!;
  assert.equal(await wsmanStatus(guest.address, guest.port), 401, 'the guest answers when the line is printed');
  assert.equal(await mode(guest.passwordFile!), 0o600);
  assert.equal(await mode(ready.xapi.passwordFile), 0o600);
  assert.equal(await mode(stateDir), 0o700);
  assert.match(ready.xapi.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const line = JSON.stringify(ready);
  for (const file of [guest.passwordFile!, ready.xapi.passwordFile]) {
    const secret = await readFile(file, 'utf8');
    assert.ok(secret.length >= 8 && !line.includes(secret), 'no password in the ready line');
  }
  assert.ok(!/"password"\s*:/.test(line));
  // The HTTPS URL verifies with the named CA, and the password file logs in there.
  const password = await readFile(ready.xapi.passwordFile, 'utf8');
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'session.login_with_password',
    params: [ready.xapi.username, password],
  });
  const ca = await readFile(ready.xapi.ca, 'utf8');
  const answer = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(
      `${ready.xapi.url}/jsonrpc`,
      { method: 'POST', ca: [ca], headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  assert.match((JSON.parse(answer) as { result: string }).result, /^OpaqueRef:/);
  assert.equal(await second.stop(), 0);

  // Another pool's scenario on this state: refused, naming the state's scenario and --fresh; nothing started.
  const refused = await runCli(['lab', '--scenario', 'xcp-ng-8.3'], env(stateDir));
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /scenario "default"/);
  assert.match(refused.stderr, /scenario "xcp-ng-8\.3" describes another pool/);
  assert.match(refused.stderr, /--fresh/);

  const fresh = await lab(t, stateDir, ['--scenario', 'xcp-ng-8.3', '--fresh']);
  assert.deepEqual([fresh.ready.state.action, fresh.ready.product], ['fresh', 'xcp-ng-8.3']);
  assert.deepEqual(
    fresh.ready.guests.map((g) => g.vm),
    ['win11-uefi'],
  );
  assert.equal(await fresh.stop(), 0);
});
