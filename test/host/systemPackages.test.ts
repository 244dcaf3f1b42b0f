// The system-package installer: nothing to do when every tool is there; as root on Debian/Ubuntu one apt-get
// update and one apt-get install of exactly the missing packages (non-interactive, one progress line), after
// which the tools are found; otherwise (not root, or not Debian) one typed error naming each package and the
// command; an apt failure is a typed error with apt's own reason.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { XenimageError } from '../../src/errors.js';
import type { ToolSpec } from '../../src/host/catalog.js';
import { findTool } from '../../src/host/spawn.js';
import { ensureTools, hostProbe, missingTools } from '../../src/host/systemPackages.js';
import { tempDir } from '../helpers/tmp.js';
import { fakeApt } from './fakeApt.js';

const TOOLS: ToolSpec[] = [
  { command: 'xenimage-fake-one', package: 'fake-one', purpose: 'a test' },
  { command: 'xenimage-fake-two', package: 'fake-two', purpose: 'a test' },
  { command: 'xenimage-fake-two-b', package: 'fake-two', purpose: 'a test' },
];

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function fakeBinaries(dir: string): Promise<Record<string, string>> {
  const real = path.join(dir, 'real');
  await mkdir(real);
  const files: Record<string, string> = {};
  for (const t of TOOLS) {
    const file = path.join(real, t.command);
    await writeFile(file, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    files[t.command] = file;
  }
  return files;
}

test('as root on Debian: one update, one install of the missing packages, then the tools are found', async (t) => {
  const dir = await tempDir(t);
  const real = await fakeBinaries(dir);
  const apt = await fakeApt(dir, {
    'fake-one': { 'xenimage-fake-one': real['xenimage-fake-one']! },
    'fake-two': {
      'xenimage-fake-two': real['xenimage-fake-two']!,
      'xenimage-fake-two-b': real['xenimage-fake-two-b']!,
    },
  });
  const env = { PATH: apt.bin };
  assert.equal(missingTools(TOOLS, env).length, 3);
  const out = new Capture(false);
  const installed = await ensureTools(TOOLS, {
    job: 'a test',
    probe: { root: true, debianLike: true, env },
    progress: out,
  });
  assert.deepEqual(installed, ['fake-one', 'fake-two']);
  assert.deepEqual(missingTools(TOOLS, env), []);
  const calls = await apt.calls();
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[0]!.args.slice(-2), ['update', '-q']);
  const install = calls[1]!.args;
  assert.ok(install.includes('install') && install.includes('-y') && install.includes('--no-install-recommends'));
  assert.deepEqual(install.slice(-2), ['fake-one', 'fake-two'], 'each missing package once, nothing else');
  assert.ok(calls.every((c) => c.frontend === 'noninteractive'));
  // Not a terminal: the line when it starts and the line when it ends.
  const lines = out.text.trim().split('\n');
  assert.equal(lines.length, 2, out.text);
  assert.match(lines[0]!, /^installing 2 packages: fake-one fake-two \(/);
  assert.match(lines[1]!, /^installing 2 packages: fake-one fake-two \(done in \d+s\)$/);

  // Everything present now: no apt call at all.
  assert.deepEqual(await ensureTools(TOOLS, { job: 'a test', probe: { root: true, debianLike: true, env } }), []);
  assert.equal((await apt.calls()).length, 2);
});

test('on a terminal the progress is one line redrawn in place, counting installed packages', async (t) => {
  const dir = await tempDir(t);
  const real = await fakeBinaries(dir);
  const apt = await fakeApt(dir, {
    'fake-one': { 'xenimage-fake-one': real['xenimage-fake-one']! },
    'fake-two': {
      'xenimage-fake-two': real['xenimage-fake-two']!,
      'xenimage-fake-two-b': real['xenimage-fake-two-b']!,
    },
  });
  const out = new Capture(true);
  await ensureTools(TOOLS, {
    job: 'a test',
    probe: { root: true, debianLike: true, env: { PATH: apt.bin } },
    progress: out,
  });
  assert.equal(out.text.split('\n').length, 2, 'one line, ended once');
  const frames = out.text.split('\r\x1b[2K').filter(Boolean);
  assert.ok(
    frames.some((f) => f.endsWith('(downloading 50%)')),
    out.text,
  );
  assert.ok(
    frames.some((f) => f.endsWith('(1/2)')),
    out.text,
  );
  assert.ok(
    frames.some((f) => f.endsWith('(2/2)')),
    out.text,
  );
});

test('not root: one typed error naming each missing package, its programs and the command; nothing run', async (t) => {
  const dir = await tempDir(t);
  const apt = await fakeApt(dir, {});
  const err = await ensureTools(TOOLS, {
    job: 'xenimage worker',
    probe: { root: false, debianLike: true, env: { PATH: apt.bin } },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError);
  assert.equal(err.type, 'SystemPackagesMissing');
  assert.equal(err.retryable, false);
  assert.equal(
    err.message,
    'xenimage worker needs 2 system packages that are not installed: fake-one (xenimage-fake-one), ' +
      'fake-two (xenimage-fake-two, xenimage-fake-two-b). ' +
      'Install them with: sudo apt-get install -y --no-install-recommends fake-one fake-two.',
  );
  assert.deepEqual(err.details, {
    packages: ['fake-one', 'fake-two'],
    tools: ['xenimage-fake-one', 'xenimage-fake-two', 'xenimage-fake-two-b'],
  });
  assert.deepEqual(await apt.calls(), []);
});

test('not Debian (even as root): the error says to use the system package manager; nothing run', async (t) => {
  const dir = await tempDir(t);
  const apt = await fakeApt(dir, {});
  const err = await ensureTools(TOOLS.slice(0, 1), {
    job: 'xenimage up',
    probe: { root: true, debianLike: false, env: { PATH: apt.bin } },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError && err.type === 'SystemPackagesMissing');
  assert.match(err.message, /needs 1 system package that is not installed: fake-one \(xenimage-fake-one\)/);
  assert.match(err.message, /your system's package manager/);
  assert.deepEqual(await apt.calls(), []);
});

test("an apt failure is a typed error carrying apt's reason", async (t) => {
  const dir = await tempDir(t);
  const apt = await fakeApt(dir, {}, { fail: ['fake-one'] });
  const err = await ensureTools(TOOLS.slice(0, 1), {
    job: 'a test',
    probe: { root: true, debianLike: true, env: { PATH: apt.bin } },
    progress: new Capture(false),
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError && err.type === 'SystemPackagesMissing');
  assert.match(err.message, /apt-get install fake-one failed \(exit 100\): E: Unable to locate package fake-one/);
});

test('the real probe: root and Debian as this machine is', () => {
  const probe = hostProbe();
  assert.equal(probe.root, process.getuid?.() === 0);
  assert.equal(
    probe.debianLike,
    findTool('apt-get') !== undefined && findTool('/etc/debian_version', process.env, false) !== undefined,
  );
});
