// pywinrm (Debian python3-winrm 0.3.0, an independent implementation) against the simulated Windows: proves the
// WS-Management service speaks the protocol as Windows does, not just as our own client expects.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';

const PASSWORD = 'Adm1n!pass-for-pywinrm';

async function guest(t: { after(fn: () => Promise<void>): void }): Promise<StandaloneWindows> {
  const w = await startStandaloneWindows({ adminPassword: PASSWORD, scale: 0.001 });
  t.after(() => w.stop());
  return w;
}

/** Runs `body` (Python) with `s` = a winrm.Session on the guest; the script prints one JSON line. */
async function py(
  w: StandaloneWindows,
  body: string,
  password = PASSWORD,
  transport = 'basic',
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  const script = [
    'import json, sys, base64, winrm',
    'from winrm.exceptions import InvalidCredentialsError',
    `s = winrm.Session('http://${w.address}:${w.port}/wsman', auth=('Administrator', ${JSON.stringify(password)}), transport='${transport}', message_encryption='never', operation_timeout_sec=1, read_timeout_sec=3)`,
    'def b(x): return base64.b64encode(x).decode()',
    body,
  ].join('\n');
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', script], { timeout: 60_000, env });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const b64 = (s: unknown): Buffer => Buffer.from(String(s), 'base64');

test('pywinrm run_cmd: exit codes and stderr, Command with Arguments, Signal then Delete', async (t) => {
  const w = await guest(t);
  const r = await py(
    w,
    `r = s.run_cmd('net', ['localgroup', 'Administrators', 'Administrator', '/add'])\nprint(json.dumps({'code': r.status_code, 'out': b(r.std_out), 'err': b(r.std_err)}))`,
  );
  assert.equal(r.code, 2);
  assert.equal(b64(r.out).length, 0);
  assert.match(b64(r.err).toString(), /System error 1378 has occurred/);
  assert.deepEqual(w.server.requests.slice(0, 2), ['Create', 'Command']);
  assert.deepEqual(w.server.requests.slice(-2), ['Signal', 'Delete']);
  assert.ok(w.machine.commandLog.includes('net localgroup Administrators Administrator /add'));
});

test('pywinrm polls through repeated OperationTimeout faults (2150858793) to the exit code', async (t) => {
  const w = await guest(t);
  const r = await py(
    w,
    `r = s.run_cmd('ping', ['-n', '3000', '127.0.0.1'])\nprint(json.dumps({'code': r.status_code}))`,
  );
  assert.equal(r.code, 0);
  assert.ok(w.server.requests.filter((op) => op === 'Receive').length >= 3);
});

test('pywinrm run_ps (-encodedcommand, UTF-16LE) with non-ASCII output in code page 437', async (t) => {
  const w = await guest(t);
  const r = await py(
    w,
    `r = s.run_ps("Write-Output 'café ü'")\nprint(json.dumps({'code': r.status_code, 'text': r.std_out.decode('cp437')}))`,
  );
  assert.equal(r.code, 0);
  assert.equal(r.text, 'café ü\r\n');
});

test('pywinrm sees PowerShell errors as CLIXML on stderr with exit code 1', async (t) => {
  const w = await guest(t);
  // run_ps of pywinrm 0.3.0 crashes on Python 3 when stderr is non-empty (bytes.startswith(str) in
  // _clean_error_msg), so the encoded command is sent through run_cmd, exactly as run_ps would send it.
  const r = await py(
    w,
    `enc = base64.b64encode("Get-Service -Name 'nosuch'".encode('utf_16_le')).decode()\nr = s.run_cmd('powershell -encodedcommand ' + enc)\nprint(json.dumps({'code': r.status_code, 'err': r.std_err.decode()}))`,
  );
  assert.equal(r.code, 1);
  assert.match(
    String(r.err),
    /^#< CLIXML\r\n<Objs Version="1\.1\.0\.1" xmlns="http:\/\/schemas\.microsoft\.com\/powershell\/2004\/04"><S S="Error">Get-Service : Cannot find any service/,
  );
});

test('pywinrm: wrong credentials are HTTP 401 → InvalidCredentialsError', async (t) => {
  const w = await guest(t);
  const r = await py(
    w,
    `try:\n    s.run_cmd('hostname')\n    print(json.dumps({'err': None}))\nexcept InvalidCredentialsError as e:\n    print(json.dumps({'err': type(e).__name__}))`,
    'wrong',
  );
  assert.equal(r.err, 'InvalidCredentialsError');
});

test('pywinrm over NTLM (requests_ntlm, no message encryption) against the simulated NTLMv2 logon', async (t) => {
  const w = await guest(t);
  // ntlm_auth needs MD4, which Python's hashlib only has with OpenSSL's legacy provider enabled.
  const conf = path.join(await tempDir(t), 'openssl.cnf');
  await writeFile(
    conf,
    [
      'openssl_conf = openssl_init',
      '[openssl_init]',
      'providers = provider_sect',
      '[provider_sect]',
      'default = default_sect',
      'legacy = legacy_sect',
      '[default_sect]',
      'activate = 1',
      '[legacy_sect]',
      'activate = 1',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, OPENSSL_CONF: conf };
  const ok = await py(
    w,
    `r = s.run_cmd('whoami')\nprint(json.dumps({'code': r.status_code, 'out': r.std_out.decode()}))`,
    PASSWORD,
    'ntlm',
    env,
  );
  assert.deepEqual(ok, { code: 0, out: 'win-standalone\\administrator\r\n' });
  const bad = await py(
    w,
    `try:\n    s.run_cmd('hostname')\n    print(json.dumps({'err': None}))\nexcept InvalidCredentialsError as e:\n    print(json.dumps({'err': type(e).__name__}))`,
    'wrong',
    'ntlm',
    env,
  );
  assert.equal(bad.err, 'InvalidCredentialsError');
});
