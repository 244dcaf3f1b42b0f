// Where a local input may read: under a source folder after links are resolved, never the state, secrets or
// configuration files, regular files only, within the size cap; and the configuration that sets the folders.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { checkLocalInput } from '../../src/inputs/localFiles.js';
import { inputPolicyOf, type InputPolicy } from '../../src/inputs/policy.js';
import { tempDir } from '../helpers/tmp.js';

interface Layout {
  state: string;
  sources: string;
  outside: string;
  policy: InputPolicy;
}

async function layout(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}): Promise<Layout> {
  const root = await tempDir(t);
  const state = path.join(root, 'state');
  const sources = path.join(state, 'sources');
  const outside = path.join(root, 'outside');
  await mkdir(sources, { recursive: true });
  await mkdir(path.join(state, 'secrets'), { recursive: true });
  await mkdir(outside, { recursive: true });
  const config = loadConfig({ XENIMAGE_STATE_DIR: state, ...env });
  return { state, sources, outside, policy: inputPolicyOf(config, { env: {} }) };
}

async function refused(file: string, policy: InputPolicy, reason: string, kind: 'source' | 'installer' = 'source') {
  await assert.rejects(
    checkLocalInput(file, policy, kind),
    (err: Error & { type?: string; retryable?: boolean; details?: { reason?: string } }) => {
      assert.equal(err.type, 'InputRefused', err.message);
      assert.equal(err.retryable, false);
      assert.equal(err.details?.reason, reason, err.message);
      return true;
    },
  );
}

test('a regular file under a source folder is allowed, by its real path', async (t) => {
  const l = await layout(t);
  const file = path.join(l.sources, 'disk.qcow2');
  await writeFile(file, Buffer.alloc(4096));
  await symlink(file, path.join(l.sources, 'alias.qcow2'));
  assert.deepEqual(await checkLocalInput(path.join(l.sources, 'alias.qcow2'), l.policy, 'source'), {
    path: file,
    size: 4096,
  });
  // The default folders: <state>/sources and <state>/samples (where `xenimage up` writes its samples).
  assert.deepEqual(l.policy.sourceDirs, [l.sources, path.join(l.state, 'samples')]);
});

test('outside every folder, through a link out of one, in the state or secrets folder: refused', async (t) => {
  const l = await layout(t);
  await refused('/etc/passwd', l.policy, 'outside source folders');
  await writeFile(path.join(l.outside, 'host.txt'), 'host file');
  await symlink(path.join(l.outside, 'host.txt'), path.join(l.sources, 'link.qcow2'));
  await refused(path.join(l.sources, 'link.qcow2'), l.policy, 'outside source folders');
  await symlink('/etc', path.join(l.sources, 'etc'));
  await refused(path.join(l.sources, 'etc', 'passwd'), l.policy, 'outside source folders');
  await refused(path.join(l.sources, '..', 'pools.yaml'), l.policy, 'outside source folders');
  // A link into the secrets folder, and a secrets folder configured inside a source folder.
  await writeFile(path.join(l.state, 'secrets', 'xapi-root'), 'hunter2');
  await symlink(path.join(l.state, 'secrets', 'xapi-root'), path.join(l.sources, 'secret.raw'));
  await refused(path.join(l.sources, 'secret.raw'), l.policy, 'outside source folders');
  const inside = await layout(t, { XENIMAGE_SECRETS_DIR: '' });
  const secrets = path.join(inside.sources, 'keys');
  await mkdir(secrets);
  await writeFile(path.join(secrets, 'cloud-admin'), 'pw');
  const policy = inputPolicyOf(loadConfig({ XENIMAGE_STATE_DIR: inside.state, XENIMAGE_SECRETS_DIR: secrets }), {
    env: {},
  });
  await refused(path.join(secrets, 'cloud-admin'), policy, 'protected path');
});

test('a source folder that holds the state folder still does not open the state', async (t) => {
  const l = await layout(t);
  const root = path.dirname(l.state);
  const policy = inputPolicyOf(
    loadConfig({ XENIMAGE_STATE_DIR: l.state, XENIMAGE_SOURCE_DIRS: `${root}:${l.sources}` }),
    {
      env: {},
      protectedFiles: [path.join(l.outside, 'clouds.yaml')],
    },
  );
  await writeFile(path.join(l.state, 'state.json'), '{}');
  await refused(path.join(l.state, 'state.json'), policy, 'protected path');
  await writeFile(path.join(l.outside, 'clouds.yaml'), 'clouds: {}');
  await refused(path.join(l.outside, 'clouds.yaml'), policy, 'protected path');
  // The state's own source folder stays readable.
  await writeFile(path.join(l.sources, 'ok.vhd'), Buffer.alloc(512));
  assert.equal((await checkLocalInput(path.join(l.sources, 'ok.vhd'), policy, 'source')).size, 512);
  // The configuration file named by XENIMAGE_CONFIG is never an input.
  const config = path.join(l.sources, 'xenimage.yaml');
  await writeFile(config, 'log:\n  level: info\n');
  const withConfig = inputPolicyOf(loadConfig({ XENIMAGE_STATE_DIR: l.state, XENIMAGE_CONFIG: config }), {
    env: { XENIMAGE_CONFIG: config },
  });
  await refused(config, withConfig, 'protected path');
});

test('FIFOs, devices, folders and missing files are refused without opening them', async (t) => {
  const l = await layout(t);
  const fifo = path.join(l.sources, 'pipe.qcow2');
  execFileSync('mkfifo', [fifo]);
  await refused(fifo, l.policy, 'not a regular file'); // opening it would block: the check must not
  await symlink('/dev/zero', path.join(l.sources, 'zero.msi'));
  await refused(path.join(l.sources, 'zero.msi'), l.policy, 'outside source folders', 'installer');
  const devRoot = inputPolicyOf(loadConfig({ XENIMAGE_STATE_DIR: l.state, XENIMAGE_SOURCE_DIRS: '/dev' }), { env: {} });
  await refused('/dev/zero', devRoot, 'not a regular file', 'installer');
  await mkdir(path.join(l.sources, 'folder'));
  await refused(path.join(l.sources, 'folder'), l.policy, 'not a regular file');
  await refused(path.join(l.sources, 'nope.qcow2'), l.policy, 'missing');
  await refused('relative/disk.qcow2', l.policy, 'outside source folders');
});

test('a file above the size cap is refused; installers have their own cap', async (t) => {
  const l = await layout(t);
  const policy = inputPolicyOf(
    loadConfig({
      XENIMAGE_STATE_DIR: l.state,
      XENIMAGE_CONFIG: await configFile(l, 'inputs:\n  maxSourceBytes: 1048576\n  maxInstallerBytes: 1024\n'),
    }),
    { env: {} },
  );
  const big = path.join(l.sources, 'big.raw');
  await writeFile(big, '');
  await truncate(big, 1048576 + 512); // sparse: the cap is on the size, not on what is allocated
  await refused(big, policy, 'too large');
  const msi = path.join(l.sources, 'tools.msi');
  await writeFile(msi, Buffer.alloc(2048));
  assert.equal((await checkLocalInput(msi, policy, 'source')).size, 2048);
  await refused(msi, policy, 'too large', 'installer');
});

test('configuration: XENIMAGE_SOURCE_DIRS is colon-separated, networks are checked CIDRs', () => {
  const config = loadConfig({
    XENIMAGE_SOURCE_DIRS: '/srv/images:/srv/tools',
    XENIMAGE_NETWORK_ALLOW: '10.1.0.0/16, fd00::/8',
  });
  assert.deepEqual(config.inputs.sourceDirs, ['/srv/images', '/srv/tools']);
  assert.deepEqual(config.network.allow, ['10.1.0.0/16', 'fd00::/8']);
  assert.throws(() => loadConfig({ XENIMAGE_NETWORK_ALLOW: '10.1.0.0/33' }), /network\.allow/);
  assert.throws(() => loadConfig({ XENIMAGE_NETWORK_ALLOW: 'example.com/8' }), /XENIMAGE_NETWORK_ALLOW/);
});

async function configFile(l: Layout, text: string): Promise<string> {
  const file = path.join(l.outside, 'xenimage.yaml');
  await writeFile(file, text);
  return file;
}
