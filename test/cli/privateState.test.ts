// `xenimage up --once --no-samples` on a state folder an older version left world-readable: afterwards the state
// folder is 0700, the secrets folder 0700 with 0600 files, every file holding a credential 0600, and nothing
// under the state folder is open to the group or to others.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

async function walk(dir: string): Promise<Array<{ file: string; mode: number; dir: boolean }>> {
  const out: Array<{ file: string; mode: number; dir: boolean }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    const st = await lstat(file);
    if (st.isSymbolicLink()) continue;
    out.push({ file, mode: st.mode & 0o777, dir: st.isDirectory() });
    if (st.isDirectory()) out.push(...(await walk(file)));
  }
  return out;
}

test('xenimage up leaves a private state: 0700 folders, 0600 credentials, nothing for group or others', async (t) => {
  const dir = await tempDir(t);
  const state = path.join(dir, 'state');
  // What an earlier version left behind.
  await mkdir(path.join(state, 'secrets'), { recursive: true, mode: 0o755 });
  await chmod(state, 0o755);
  await chmod(path.join(state, 'secrets'), 0o755);
  await writeFile(path.join(state, 'secrets', 'demo-windows-admin'), 'Old-Passw0rd!', { mode: 0o644 });
  await chmod(path.join(state, 'secrets', 'demo-windows-admin'), 0o644);

  // The embedded everything, in this state folder only: no cluster, cloud, secrets or pools from outside.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(TEMPORAL_|OS_|XENIMAGE_(SECRETS_DIR|POOLS_FILE|SECRET_|CONFIG))/.test(k),
    ),
  ) as Record<string, string>;
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [CLI, 'up', '--once', '--no-samples'],
      {
        env: {
          ...env,
          XENIMAGE_LOG_LEVEL: 'warn',
          XENIMAGE_STATE_DIR: state,
          XENIMAGE_TEMPORAL_PORT: '0',
          XENIMAGE_TEMPORAL_UI_PORT: '0',
        },
        timeout: 300_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /xenimage is up/);

  const mode = async (rel: string) => (await lstat(path.join(state, rel))).mode & 0o777;
  assert.equal(await mode('.'), 0o700, 'the state folder');
  assert.equal(await mode('secrets'), 0o700, 'the secrets folder');
  for (const name of await readdir(path.join(state, 'secrets')))
    assert.equal(await mode(`secrets/${name}`), 0o600, name);
  for (const rel of [
    'endpoints.json',
    'pools.yaml',
    'openstack/clouds.yaml',
    'openstack/keystone/keystone.conf',
    'openstack/glance/glance-api.conf',
  ])
    assert.equal(await mode(rel), 0o600, rel);

  const open = (await walk(state)).filter((e) => (e.mode & 0o077) !== 0);
  assert.deepEqual(
    open.map((e) => `${path.relative(state, e.file)} ${e.mode.toString(8)}`),
    [],
    'nothing under the state folder is open to group or others',
  );
});
