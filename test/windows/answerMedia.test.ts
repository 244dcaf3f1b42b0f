// Answer media as Windows Setup would read them: a real ISO 9660 (xorriso) with the volume label, the answer
// file, scripts, certificate and pinned installers; checked with xorriso and xml2js, never by our own reader.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import xml2js from 'xml2js';
import { writeLabInstallers } from '../../src/lab/guest/labInstallers.js';
import { planSetup } from '../../src/lab/guest/setup.js';
import { SecretResolver } from '../../src/secrets.js';
import { buildAnswerMedia, encodeUnattendPassword, type AnswerMediaInput } from '../../src/windows/index.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const PASSWORD = 'Answer-Media-Pw1!';
const secretsFrom = (env: Record<string, string>) => new SecretResolver({ dir: '/nonexistent/secrets', env });
const secrets = secretsFrom({ XENIMAGE_SECRET_WIN_ADMIN: PASSWORD });

async function isoFiles(iso: string, dir: string): Promise<string> {
  const out = path.join(dir, 'extracted');
  await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', out]);
  return out;
}

async function baseInput(dir: string): Promise<AnswerMediaInput> {
  const installers = await writeLabInstallers(path.join(dir, 'installers'));
  return {
    firmware: 'bios',
    image: { index: 2 },
    computerName: 'WIN-BUILD-1',
    adminPassword: { secret: 'win-admin' },
    pvTools: installers.pvTools,
    cloudbaseInit: { msi: installers.cloudbaseInit, serialPort: 'COM1' },
  };
}

test('an HTTPS answer ISO: label, files, encoded passwords, first-logon order, mode 0600', async (t) => {
  const dir = await tempDir(t);
  const media = await buildAnswerMedia(await baseInput(dir), { stateDir: dir, buildId: 'build-1', secrets });
  assert.equal((await stat(media.isoPath)).mode & 0o777, 0o600);
  const iso = await readFile(media.isoPath);
  assert.equal(iso.toString('latin1', 0x8028, 0x8028 + 32).trim(), 'XENIMAGE_CFG');
  assert.ok(!iso.includes(Buffer.from(PASSWORD)), 'the password is never in clear on the media');
  assert.ok(
    media.winrm.https && media.winrm.port === 5986 && media.winrm.certificatePem?.includes('BEGIN CERTIFICATE'),
  );
  const root = await isoFiles(media.isoPath, dir);
  assert.deepEqual(
    (await readdir(root)).sort(),
    ['Autounattend.xml', 'CloudbaseInitSetup_Stable_x64.msi', 'managementagentx64.msi', 'xenimage'].sort(),
  );
  assert.deepEqual((await readdir(path.join(root, 'xenimage'))).sort(), [
    'cloudbase-init-unattend.conf',
    'cloudbase-init.conf',
    'enable-winrm.ps1',
    'install-pv-tools.ps1',
    'winrm-listener.pfx',
  ]);
  const xml = await readFile(path.join(root, 'Autounattend.xml'), 'utf8');
  const doc = (await xml2js.parseStringPromise(xml)) as {
    unattend: { $: { xmlns: string }; settings: Array<{ $: { pass: string } }> };
  };
  assert.equal(doc.unattend.$.xmlns, 'urn:schemas-microsoft-com:unattend');
  assert.deepEqual(
    doc.unattend.settings.map((s) => s.$.pass),
    ['windowsPE', 'specialize', 'oobeSystem'],
  );
  assert.ok(xml.includes(encodeUnattendPassword(PASSWORD, 'AdministratorPassword')));
  assert.ok(xml.includes(encodeUnattendPassword(PASSWORD, 'Password')));
  assert.equal(
    Buffer.from(encodeUnattendPassword('pw', 'AdministratorPassword'), 'base64').toString('utf16le'),
    'pwAdministratorPassword',
  );
  // Windows Setup's own checks, as the simulated guest applies them (image index against the media, BIOS layout…).
  const plan = await planSetup(
    xml,
    { drive: { letter: 'D', label: 'X', dir: root }, images: ['Core', 'Desktop'] },
    'bios',
  );
  assert.equal(plan.image.name, 'Desktop');
  assert.equal(plan.adminPassword, PASSWORD);
  assert.deepEqual(
    plan.firstLogonCommands.map((c) => c.description),
    [
      'Install the PV tools (drivers and agent)',
      'Let local administrators use WinRM (LocalAccountTokenFilterPolicy)',
      'Open the firewall for WinRM HTTPS (5986)',
      'Enable WinRM over HTTPS (last configuration step)',
      'Reboot once so the PV drivers bind',
    ],
  );
  await assert.rejects(
    planSetup(xml, { drive: { letter: 'D', label: 'X', dir: root }, images: ['Core', 'Desktop'] }, 'uefi'),
    /GPT required/,
  );
  const enable = await readFile(path.join(root, 'xenimage', 'enable-winrm.ps1'), 'utf8');
  assert.match(enable, /New-Item -Path 'WSMan:\\localhost\\Listener' -Transport HTTPS/);
  assert.match(enable, /AllowUnencrypted' -Value \$false/);
  // The staging folder is gone; only the ISO remains.
  assert.deepEqual(await readdir(path.join(dir, 'answer-media')), ['build-1.iso']);
});

test('UEFI layout, image by name, product key from a secret, HTTP only on an isolated network', async (t) => {
  const dir = await tempDir(t);
  const input = {
    ...(await baseInput(dir)),
    firmware: 'uefi' as const,
    image: { name: 'Windows Server 2022 Standard' },
    productKey: { secret: 'win-key' },
    winrm: { transport: 'http' as const, isolatedNetwork: true },
  };
  const key = 'VDYBN-27WPP-V4HQT-9VMD4-VMK7H';
  const media = await buildAnswerMedia(input, {
    stateDir: dir,
    buildId: 'build-2',
    secrets: secretsFrom({ XENIMAGE_SECRET_WIN_ADMIN: PASSWORD, XENIMAGE_SECRET_WIN_KEY: key }),
  });
  assert.equal(media.winrm.https, false);
  assert.equal(media.winrm.certificatePem, null);
  const root = await isoFiles(media.isoPath, dir);
  const xml = await readFile(path.join(root, 'Autounattend.xml'), 'utf8');
  const plan = await planSetup(
    xml,
    { drive: { letter: 'D', label: 'X', dir: root }, images: ['Windows Server 2022 Standard'] },
    'uefi',
  );
  assert.equal(plan.image.index, 1);
  assert.match(xml, new RegExp(`<ProductKey>\\s*<Key>${key}</Key>\\s*<WillShowUI>OnError</WillShowUI>`));
  assert.match(
    await readFile(path.join(root, 'xenimage', 'enable-winrm.ps1'), 'utf8'),
    /AllowUnencrypted' -Value \$true/,
  );
  assert.ok(!existsSync(path.join(root, 'xenimage', 'winrm-listener.pfx')));
});

test('bad input creates nothing: plain HTTP without isolation, a missing secret', async (t) => {
  const dir = await tempDir(t);
  const input = await baseInput(dir);
  await assert.rejects(
    buildAnswerMedia({ ...input, winrm: { transport: 'http' } }, { stateDir: dir, buildId: 'b', secrets }),
    (e: Error & { type: string }) => e.type === 'InvalidInput' && /isolatedNetwork/.test(e.message),
  );
  await assert.rejects(buildAnswerMedia(input, { stateDir: dir, buildId: 'b', secrets: secretsFrom({}) }), {
    type: 'SecretMissing',
  });
  await assert.rejects(
    buildAnswerMedia(
      { ...input, computerName: 'way-too-long-computer-name' },
      { stateDir: dir, buildId: 'b', secrets },
    ),
    { type: 'InvalidInput' },
  );
  assert.ok(!existsSync(path.join(dir, 'answer-media')));
});

test('installers are checked against their SHA-256 (path and URL); a mismatch is typed and leaves no ISO', async (t) => {
  const dir = await tempDir(t);
  const input = await baseInput(dir);
  const wrong = { ...input, pvTools: { ...input.pvTools!, sha256: 'f'.repeat(64) } };
  await assert.rejects(
    buildAnswerMedia(wrong, { stateDir: dir, buildId: 'b3', secrets }),
    (e: Error & { type: string; retryable: boolean }) => e.type === 'ArtifactChecksumMismatch' && !e.retryable,
  );
  assert.deepEqual(await readdir(path.join(dir, 'answer-media')), []);
  // Over HTTP: the same bytes, hashed while they stream.
  const msi = await readFile('path' in input.pvTools! ? input.pvTools.path : '');
  const srv = http.createServer((req, res) => {
    if (req.url === '/tools.msi') res.end(msi);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const sha256 = createHash('sha256').update(msi).digest('hex');
  const media = await buildAnswerMedia(
    { ...input, pvTools: { url: `${base}/tools.msi`, sha256 } },
    { stateDir: dir, buildId: 'b4', secrets },
  );
  assert.ok(existsSync(media.isoPath));
  await assert.rejects(
    buildAnswerMedia(
      { ...input, pvTools: { url: `${base}/missing.msi`, sha256 } },
      { stateDir: dir, buildId: 'b5', secrets },
    ),
    (e: Error & { type: string; retryable: boolean }) => e.type === 'ArtifactDownloadFailed' && !e.retryable,
  );
});
