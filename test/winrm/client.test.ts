// The WinRM client against the simulated Windows (same WS-Management service and interpreter as a lab guest,
// with no VM behind it): exit codes, stderr, long polls across OperationTimeout faults, Signal then Delete,
// encoded PowerShell, stdin, UTF-8, split output, TLS pinning, and every typed failure.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';
import { WinrmClient, decodeClixml, psQuote, type WinrmClientOptions } from '../../src/winrm/index.js';
import { createListenerCertificate } from '../../src/windows/certificate.js';

const PASSWORD = 'Adm1n!pass-for-tests';

async function guest(
  t: { after(fn: () => Promise<void>): void },
  opts: Partial<Parameters<typeof startStandaloneWindows>[0]> = {},
): Promise<StandaloneWindows> {
  const w = await startStandaloneWindows({ adminPassword: PASSWORD, scale: 0.001, ...opts });
  t.after(() => w.stop());
  return w;
}

function client(
  t: { after(fn: () => void): void },
  w: StandaloneWindows,
  o: Partial<WinrmClientOptions> = {},
): WinrmClient {
  const c = new WinrmClient({
    host: w.address,
    port: w.port,
    https: false,
    username: 'Administrator',
    password: PASSWORD,
    operationTimeoutSec: 1,
    requestMarginMs: 2000,
    ...o,
  });
  t.after(() => c.close());
  return c;
}

test('exit code, stdout and stderr come back separately; a failing command is not a success', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  const ok = await c.run('hostname');
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.stdout.toString(), 'WIN-STANDALONE\r\n');
  const bad = await c.run('net', ['localgroup', 'Administrators', 'Administrator', '/add']);
  assert.equal(bad.exitCode, 2);
  assert.equal(bad.stdout.length, 0);
  assert.match(
    bad.stderr.toString(),
    /System error 1378 has occurred\.\r\n\r\nThe specified account name is already a member of the group\./,
  );
  const missing = await c.run('nosuchprogram.exe');
  assert.equal(missing.exitCode, 9009);
  assert.match(missing.stderr.toString(), /'nosuchprogram\.exe' is not recognized as an internal or external command/);
});

test('a long command is polled across several OperationTimeout faults, then Signal terminate and Delete', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  let polls = 0;
  // `ping -n 3000` takes 3000 s on Windows; 3 s at this speed factor, i.e. ~3 empty long polls of 1 s.
  const r = await c.run('ping', ['-n', '3000', '127.0.0.1'], { onPoll: () => void polls++ });
  assert.equal(r.exitCode, 0);
  const receives = w.server.requests.filter((op) => op === 'Receive').length;
  assert.ok(receives >= 3, `expected several Receives, saw ${receives}`);
  assert.equal(polls, receives);
  assert.deepEqual(w.server.requests.slice(0, 2), ['Create', 'Command']);
  assert.deepEqual(w.server.requests.slice(-2), ['Signal', 'Delete']);
});

test('PowerShell goes through -EncodedCommand: quotes, %VAR% and non-ASCII survive cmd.exe untouched', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  const value = `it's "100%" %PATH% & café ü ✓`;
  const r = await c.runPowerShell(`$v = ${psQuote(value)}\nWrite-Output $v`);
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout.toString('utf8'), value + '\r\n');
  const logged = w.machine.commandLog.find((l) => l.includes('Write-Output'));
  assert.ok(logged?.includes(`'it''s "100%" %PATH% & café ü ✓'`));
});

test('PowerShell errors arrive as CLIXML on stderr with exit code 1, and decode to the console text', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  const r = await c.runPowerShell(`$ErrorActionPreference = 'Stop'\nGet-Service -Name 'nosuchservice'`);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr.toString(), /^#< CLIXML\r\n<Objs Version="1.1.0.1"/);
  const text = await decodeClixml(r.stderr.toString());
  assert.match(text, /Get-Service : Cannot find any service with service name 'nosuchservice'\./);
  assert.match(
    text,
    /FullyQualifiedErrorId : NoServiceFoundForGivenName,Microsoft\.PowerShell\.Commands\.GetServiceCommand/,
  );
  const unknown = await c.runPowerShell('Get-WindowsFeature -Name Foo');
  assert.equal(unknown.exitCode, 1);
  assert.match(await decodeClixml(unknown.stderr.toString()), /The term 'Get-WindowsFeature' is not recognized/);
});

test('stdin reaches the command through Send with End="true"', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  const r = await c.runPowerShell('$line = [Console]::In.ReadLine()\nWrite-Output "got $($line.Length) chars"', {
    stdin: 'sécret-value\r\n',
  });
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout.toString(), 'got 12 chars\r\n');
  assert.ok(w.server.requests.includes('Send'));
  assert.ok(!w.machine.commandLog.some((l) => l.includes('sécret-value')));
});

test('large output split across Receives is assembled byte for byte', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  const big = Buffer.from(Array.from({ length: 6000 }, (_, i) => `line ${i} ${'x'.repeat(40)}\r\n`).join(''));
  w.machine.writeFile('C:\\Windows\\Temp\\big.txt', big);
  const before = w.server.requests.length;
  const r = await c.run('type', ['C:\\Windows\\Temp\\big.txt']);
  assert.equal(r.exitCode, 0);
  assert.ok(r.stdout.equals(big));
  const receives = w.server.requests.slice(before).filter((op) => op === 'Receive').length;
  assert.ok(receives >= 3, `~300 KB must take several Receives, saw ${receives}`);
});

test('wrong credentials, Basic disabled and a filtered token are HTTP 401: typed, not retryable', async (t) => {
  const w = await guest(t);
  await assert.rejects(
    client(t, w, { password: 'wrong' }).run('hostname'),
    (e: { type: string; retryable: boolean }) => e.type === 'WinrmAuthFailed' && !e.retryable,
  );
  await client(t, w).run('net', ['user', 'builder', 'Bu1lder!pass', '/add', '/y']);
  await client(t, w).run('net', ['localgroup', 'Administrators', 'builder', '/add']);
  // A second local administrator gets a filtered network token until LocalAccountTokenFilterPolicy=1.
  await assert.rejects(client(t, w, { username: 'builder', password: 'Bu1lder!pass' }).run('hostname'), {
    type: 'WinrmAuthFailed',
  });
  await client(t, w).run('reg', [
    'add',
    'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System',
    '/v',
    'LocalAccountTokenFilterPolicy',
    '/t',
    'REG_DWORD',
    '/d',
    '1',
    '/f',
  ]);
  assert.equal(
    (await client(t, w, { username: 'builder', password: 'Bu1lder!pass' }).run('whoami')).stdout.toString(),
    'win-standalone\\builder\r\n',
  );
  w.machine.state.winrm.basic = false;
  await assert.rejects(
    client(t, w).run('hostname'),
    (e: Error & { type: string }) => e.type === 'WinrmAuthFailed' && /Basic auth is not enabled/.test(e.message),
  );
});

test('injected faults: 401, blackholed request (timeout), VM reset mid-command, refused connection', async (t) => {
  const w = await guest(t);
  const c = client(t, w, { operationTimeoutSec: 1, requestMarginMs: 300 });
  w.inject({ kind: 'winrm-401' });
  await assert.rejects(c.run('hostname'), { type: 'WinrmAuthFailed' });
  assert.equal((await c.run('hostname')).exitCode, 0);
  w.inject({ kind: 'winrm-timeout', operation: 'Receive' });
  await assert.rejects(
    c.run('hostname'),
    (e: { type: string; retryable: boolean }) => e.type === 'WinrmRequestTimeout' && e.retryable,
  );
  w.inject({ kind: 'reset-during-command', match: 'ping' });
  await assert.rejects(
    c.run('ping', ['-n', '5000', '127.0.0.1']),
    (e: { type: string; retryable: boolean }) => e.type === 'WinrmConnectionLost' && e.retryable,
  );
  await w.stop();
  await assert.rejects(
    client(t, w).run('hostname'),
    (e: { type: string; retryable: boolean }) => e.type === 'WinrmUnreachable' && e.retryable,
  );
});

test('a shell that vanished (reboot) is WinrmShellNotFound; the shell quota is WinrmQuotaExceeded', async (t) => {
  const w = await guest(t);
  const c = client(t, w);
  const shell = await c.openShell();
  await w.server.stop();
  // A reboot takes a while: meanwhile the client's idle keep-alive socket sees the close.
  await new Promise((r) => setTimeout(r, 100));
  await w.server.start();
  await assert.rejects(
    shell.startCommand('hostname'),
    (e: { type: string; wsmanCode: number }) => e.type === 'WinrmShellNotFound' && e.wsmanCode === 2150858843,
  );
  const shells = [];
  for (let i = 0; i < 30; i++) shells.push(await c.openShell());
  await assert.rejects(
    c.openShell(),
    (e: { type: string; wsmanCode: number; retryable: boolean }) =>
      e.type === 'WinrmQuotaExceeded' && e.wsmanCode === 2150859173 && e.retryable,
  );
  for (const s of shells) await s.close();
  assert.equal((await c.run('hostname')).exitCode, 0);
});

test('cancellation aborts a long poll at once', async (t) => {
  const w = await guest(t);
  const c = client(t, w, { operationTimeoutSec: 30 });
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(new Error('cancelled by test')), 200);
  await assert.rejects(c.run('ping', ['-n', '100000', '127.0.0.1'], { signal: ac.signal }), /cancelled by test/);
  assert.ok(Date.now() - started < 5000);
});

test('HTTPS: the pinned certificate is accepted, any other is refused before credentials are sent', async (t) => {
  const cert = await createListenerCertificate({ commonName: 'WIN-PINNED' });
  const other = await createListenerCertificate({ commonName: 'WIN-OTHER' });
  const w = await guest(t, { https: { pfx: cert.pfx, passphrase: cert.pfxPassword } });
  const ok = await client(t, w, { https: true, tls: { pinnedCertificate: cert.certPem } }).run('hostname');
  assert.equal(ok.exitCode, 0);
  const before = w.server.requests.length;
  await assert.rejects(client(t, w, { https: true, tls: { pinnedCertificate: other.certPem } }).run('hostname'), {
    type: 'WinrmTlsFailed',
  });
  await assert.rejects(client(t, w, { https: true }).run('hostname'), { type: 'WinrmTlsFailed' });
  assert.equal(w.server.requests.length, before);
});

test('answers that are not WS-Management are protocol errors (HTML page, empty body, wrong RelatesTo)', async (t) => {
  let mode: 'html' | 'empty' | 'relates' = 'html';
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'empty') {
        res.writeHead(200, { 'Content-Type': 'application/soap+xml;charset=UTF-8' });
        res.end();
        return;
      }
      if (mode === 'html') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<html><body>captive portal</body></html>');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/soap+xml;charset=UTF-8' });
      res.end(
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:RelatesTo>uuid:00000000-0000-0000-0000-000000000000</a:RelatesTo></s:Header><s:Body/></s:Envelope>',
      );
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const port = (srv.address() as AddressInfo).port;
  const c = new WinrmClient({ host: '127.0.0.1', port, https: false, username: 'u', password: 'p' });
  t.after(() => c.close());
  await assert.rejects(
    c.openShell(),
    (e: Error & { type: string }) => e.type === 'WinrmProtocolError' && /not a SOAP envelope/.test(e.message),
  );
  mode = 'empty';
  await assert.rejects(
    c.openShell(),
    (e: Error & { type: string }) => e.type === 'WinrmProtocolError' && /empty XML document/.test(e.message),
  );
  mode = 'relates';
  await assert.rejects(
    c.openShell(),
    (e: Error & { type: string }) => e.type === 'WinrmProtocolError' && /RelatesTo/.test(e.message),
  );
});

test('domain accounts are refused up front: Basic auth only works for local accounts', () => {
  assert.throws(
    () => new WinrmClient({ host: '127.0.0.1', port: 5985, https: false, username: 'CORP\\builder', password: 'x' }),
    { type: 'InvalidInput' },
  );
  assert.throws(
    () =>
      new WinrmClient({ host: '127.0.0.1', port: 5985, https: false, username: 'builder@corp.example', password: 'x' }),
    { type: 'InvalidInput' },
  );
});

test('NTLM (messages from winrm-client, Negotiate scheme): logon as local and .\\ accounts; wrong password and unencrypted HTTP refused', async (t) => {
  const w = await guest(t);
  assert.equal(
    (await client(t, w, { auth: 'ntlm' }).run('whoami')).stdout.toString(),
    'win-standalone\\administrator\r\n',
  );
  assert.equal((await client(t, w, { auth: 'ntlm', username: '.\\Administrator' }).run('hostname')).exitCode, 0);
  await assert.rejects(client(t, w, { auth: 'ntlm', password: 'wrong' }).run('hostname'), { type: 'WinrmAuthFailed' });
  // NTLM without sealing over plain HTTP needs AllowUnencrypted, as on Windows.
  w.machine.state.winrm.allowUnencrypted = false;
  await assert.rejects(client(t, w, { auth: 'ntlm' }).run('hostname'), { type: 'WinrmAuthFailed' });
});

test('net.exe: the password policy fault is NET HELPMSG 2245 with exit 2; a long password without /y waits for the Y/N answer on stdin', async (t) => {
  const w = await guest(t);
  w.inject({ kind: 'password-policy' });
  const r = await client(t, w).run('net', ['user', 'builder', 'Valid-Pass-123', '/add', '/y']);
  assert.equal(r.exitCode, 2);
  assert.match(
    r.stderr.toString(),
    /The password does not meet the password policy requirements\.[^]*NET HELPMSG 2245/,
  );
  const prompt = await client(t, w).run('net', ['user', 'builder', 'A-Very-Long-Pass-123', '/add'], { stdin: 'Y\r\n' });
  assert.match(
    prompt.stdout.toString(),
    /longer than 14 characters[^]*\(Y\/N\) \[Y\]: The command completed successfully/,
  );
  assert.equal(prompt.exitCode, 0);
});
