// One place starts external programs: a missing one is a typed ToolMissing error naming its Debian package —
// through spawnTool, runTool and the product paths built on them — never `spawn … ENOENT`. And no module of the
// product starts a program any other way (the exceptions are listed with the check that covers them).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { XenimageError } from '../../src/errors.js';
import { TOOLS, packageOf } from '../../src/host/catalog.js';
import { ToolMissingError, findTool, runTool, spawnTool } from '../../src/host/spawn.js';
import { tempDir } from '../helpers/tmp.js';

test('runTool and spawnTool: a program missing from PATH is ToolMissing with its package, not ENOENT', async (t) => {
  const empty = await tempDir(t);
  const env = { PATH: empty };
  const err = await runTool('qemu-img', ['--version'], { env }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ToolMissingError);
  assert.equal(err.type, 'ToolMissing');
  assert.equal(err.retryable, false);
  assert.equal(err.message, 'qemu-img is not installed (Debian/Ubuntu package qemu-utils: apt-get install qemu-utils)');
  assert.deepEqual(err.details, { tool: 'qemu-img', package: 'qemu-utils' });
  assert.throws(
    () => spawnTool('xorriso', ['-version'], { env }),
    (e: unknown) => e instanceof XenimageError && e.type === 'ToolMissing' && /package xorriso/.test(e.message),
  );
  assert.throws(
    () => spawnTool('/nonexistent/keystone-manage', []),
    (e: unknown) => e instanceof ToolMissingError && e.details.package === 'keystone',
  );
  assert.throws(
    () => spawnTool('xenimage-no-such-program', [], { env }),
    (e: unknown) => e instanceof ToolMissingError && e.message === 'xenimage-no-such-program is not installed',
  );
});

test('runTool and spawnTool run a present program as execFile and spawn do', async () => {
  const { stdout } = await runTool('qemu-img', ['--version']);
  assert.match(stdout, /qemu-img version/);
  const child = spawnTool('pigz', ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const code = await new Promise((resolve) => child.once('close', resolve));
  assert.equal(code, 0);
});

test('the catalog names the package of every program it lists, found by name or path', () => {
  assert.equal(packageOf('qemu-io'), 'qemu-utils');
  assert.equal(packageOf('/usr/bin/pigz'), 'pigz');
  assert.equal(packageOf('/usr/bin/glance-manage'), 'glance-common');
  assert.equal(packageOf('/usr/lib/uwsgi/plugins/python3_plugin.so'), 'uwsgi-plugin-python3');
  for (const spec of Object.values(TOOLS))
    assert.ok(findTool(spec.command, process.env, !spec.command.endsWith('.so')), spec.command);
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Files that still start programs themselves, and what keeps a missing program from reaching them. */
const STARTED_ELSEWHERE: Record<string, string> = {
  'src/host/spawn.ts': 'the one place',
  'src/pack/pigzGzip.ts': 'spawnSync probe of pigz --version (absent = the zlib fallback)',
  'src/lab/openstack/setupSteps.ts': 'runs OPENSTACK_TOOLS, checked by ensureOpenStackPrograms before',
  'src/lab/openstack/serviceProcess.ts': 'runs OPENSTACK_TOOLS, checked by ensureOpenStackPrograms before',
  'src/lab/xapi/setup/isoImage.ts': 'xorriso, checked by `xenimage up` before the lab starts',
  'src/lab/guest/cdrom.ts': 'xorriso, checked by `xenimage up` before the lab starts',
  'src/lab/guest/state.ts': 'openssl, checked by `xenimage up` before the lab starts',
  'src/lab/guest/ps/cmdlets.ts': 'openssl, checked by `xenimage up` before the lab starts',
};

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

test('the product starts programs only through src/host/spawn.ts (listed exceptions aside)', async () => {
  const offenders: string[] = [];
  for (const dir of ['src', 'activities']) {
    for (const file of await sources(path.join(root, dir))) {
      const rel = path.relative(root, file);
      const text = await readFile(file, 'utf8');
      const starts =
        /from 'node:child_process'/.test(text) &&
        /\b(spawn|execFile|exec|fork|spawnSync|execFileSync)\b\s*[,}(]/.test(text);
      if (starts && !(rel in STARTED_ELSEWHERE)) offenders.push(rel);
    }
  }
  assert.deepEqual(offenders, [], 'start programs with spawnTool/runTool (src/host/spawn.ts)');
});
