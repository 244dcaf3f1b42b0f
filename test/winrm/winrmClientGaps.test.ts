// Measures npm winrm-client 0.0.11 against the simulated Windows (docs/decisions/windows-0001-winrm-client.md).
// These assertions record the package's observed behaviour; if an upgrade changes them, the test fails and the
// decision page must be revisited.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCommand, runPowershell } from 'winrm-client';
import { startStandaloneWindows, type StandaloneWindows } from '../../src/lab/guest/standalone.js';
import { WinrmClient } from '../../src/winrm/index.js';

const PASSWORD = 'Adm1n!pass-for-gaps';

async function guest(t: { after(fn: () => Promise<void>): void }): Promise<StandaloneWindows> {
  const w = await startStandaloneWindows({ adminPassword: PASSWORD, scale: 0.001 });
  t.after(() => w.stop());
  return w;
}

test('gap 1: no exit code — a failing command returns its stderr text like a success', async (t) => {
  const w = await guest(t);
  const out = await runCommand(
    'net localgroup Administrators Administrator /add',
    w.address,
    'Administrator',
    PASSWORD,
    w.port,
  );
  assert.match(out, /System error 1378 has occurred/);
  assert.equal(typeof out, 'string');
  const ours = await new WinrmClient({
    host: w.address,
    port: w.port,
    https: false,
    username: 'Administrator',
    password: PASSWORD,
  }).run('net', ['localgroup', 'Administrators', 'Administrator', '/add']);
  assert.equal(ours.exitCode, 2);
});

test('gap 2+4: one Receive only — the first chunk is returned, the rest is lost and the shell deleted under the running command', async (t) => {
  const w = await guest(t);
  const out = await runCommand(
    'echo first & ping -n 70000 127.0.0.1 & echo never',
    w.address,
    'Administrator',
    PASSWORD,
    w.port,
  );
  assert.equal(out, 'first');
  assert.equal(w.server.requests.filter((op) => op === 'Receive').length, 1);
  assert.ok(w.server.requests.includes('Delete'));
  assert.ok(!w.server.requests.includes('Signal'));
});

test('gap 7: output decoded as ASCII — UTF-8 text is mangled', async (t) => {
  const w = await guest(t);
  const out = await runCommand('echo café ü', w.address, 'Administrator', PASSWORD, w.port);
  assert.notEqual(out, 'café ü');
});

test('gap 10: runPowershell sends the script through cmd.exe (-Command), not -EncodedCommand', async (t) => {
  const w = await guest(t);
  await runPowershell('Write-Output "%COMPUTERNAME%"', w.address, 'Administrator', PASSWORD, w.port);
  const line = w.machine.commandLog.find((l) => l.startsWith('powershell'));
  assert.ok(line && /-Command/i.test(line) && !/-EncodedCommand/i.test(line), line);
});
