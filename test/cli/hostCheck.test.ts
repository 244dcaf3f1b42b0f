// `xenimage worker` and `xenimage up` (through `xenimage setup`, which runs the same checks) on a host whose
// PATH hides every tool, as root on Debian with apt-get replaced by a recorder: they install exactly the
// packages of their job with one apt-get install, before they start anything, then go on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOOLS, WORKER_TOOLS, type ToolSpec } from '../../src/host/catalog.js';
import { findTool } from '../../src/host/spawn.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { fakeApt } from '../host/fakeApt.js';

/** package → (program → the real file), for the tools given, from this machine. */
function provides(tools: readonly ToolSpec[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const t of tools) {
    const real = findTool(t.command);
    assert.ok(real, `${t.command} is installed on this machine`);
    (out[t.package] ??= {})[t.command] = real;
  }
  return out;
}

function installed(calls: Array<{ args: string[] }>): string[] {
  const install = calls.filter((c) => c.args.includes('install'));
  assert.equal(install.length, 1, 'one apt-get install');
  const args = install[0]!.args;
  return args
    .slice(args.indexOf('--no-install-recommends') + 1)
    .filter((a, i, all) => !a.startsWith('-') && all[i - 1] !== '-o');
}

test(
  'xenimage worker installs its packages with apt before it connects to anything',
  { skip: process.getuid?.() !== 0 && 'installing needs root (CI runs as root)' },
  async (t) => {
    const dir = await tempDir(t);
    const apt = await fakeApt(dir, provides(WORKER_TOOLS));
    const out = await runCli(['worker'], {
      PATH: apt.bin,
      XENIMAGE_STATE_DIR: `${dir}/state`,
      // Nothing listens there: the worker must get that far only after the install.
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    assert.deepEqual(installed(await apt.calls()).sort(), ['openssl', 'pigz', 'qemu-utils', 'xorriso']);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /^installing 4 packages: qemu-utils xorriso pigz openssl \(/m);
    assert.match(out.stderr, /^xenimage: TemporalUnavailable: /m);
    assert.doesNotMatch(out.stderr, /ENOENT/);
  },
);

test(
  "xenimage setup (the checks of xenimage up) installs qemu-io's package too, then says up can start",
  { skip: process.getuid?.() !== 0 && 'installing needs root (CI runs as root)' },
  async (t) => {
    const dir = await tempDir(t);
    const apt = await fakeApt(dir, provides([...WORKER_TOOLS, TOOLS.qemuIo]));
    const out = await runCli(['setup'], {
      PATH: apt.bin,
      XENIMAGE_STATE_DIR: `${dir}/state`,
      // An existing cluster and cloud: no Temporal CLI, no Keystone/Glance needed.
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      OS_CLOUD: 'elsewhere',
    });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(installed(await apt.calls()).sort(), ['openssl', 'pigz', 'qemu-utils', 'xorriso']);
    assert.match(out.stdout, /^xenimage up can start: qemu-utils xorriso pigz openssl installed/);
  },
);

test('with every tool present nothing is installed and apt-get is never called', async (t) => {
  const dir = await tempDir(t);
  const apt = await fakeApt(
    dir,
    {},
    { link: Object.fromEntries(Object.values(provides(WORKER_TOOLS)).flatMap((p) => Object.entries(p))) },
  );
  const out = await runCli(['setup', '--worker'], { PATH: apt.bin, XENIMAGE_STATE_DIR: `${dir}/state` });
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(await apt.calls(), []);
  assert.doesNotMatch(out.stderr, /installing/);
});
