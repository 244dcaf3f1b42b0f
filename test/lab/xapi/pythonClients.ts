// The two Python XenAPI bindings the lab is checked against, made available at test time (never copied into
// the repository): Debian's python3-os-xenapi (its XenAPI module, or the file extracted from the .deb when the
// package cannot be imported), and the PyPI XenAPI package in a venv cached under
// $XDG_CACHE_HOME/xenimage (default ~/.cache/xenimage) so later runs reuse it.
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PythonBinding {
  name: string;
  python: string;
  module: string;
  env: NodeJS.ProcessEnv;
}

function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'xenimage');
}

async function importable(python: string, module: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  try {
    await run(python, ['-c', `import ${module}`], { env });
    return true;
  } catch {
    return false;
  }
}

/** Debian's python3-os-xenapi: `os_xenapi.client.XenAPI`, or its XenAPI.py extracted from the .deb. */
export async function debianBinding(): Promise<PythonBinding> {
  const python = '/usr/bin/python3';
  if (await importable(python, 'os_xenapi.client.XenAPI'))
    return { name: 'python3-os-xenapi', python, module: 'os_xenapi.client.XenAPI', env: process.env };
  const dir = path.join(cacheDir(), 'os-xenapi');
  const env = { ...process.env, PYTHONPATH: dir };
  if (!(await importable(python, 'XenAPI', env))) {
    const work = await mkdtemp(path.join(os.tmpdir(), 'os-xenapi-'));
    try {
      await run('apt-get', ['download', 'python3-os-xenapi'], { cwd: work });
      const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error('apt-get download python3-os-xenapi produced no .deb');
      await run('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'x')]);
      await mkdir(dir, { recursive: true });
      const src = path.join(work, 'x/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py');
      await access(src);
      await run('cp', [src, path.join(dir, 'XenAPI.py')]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return { name: 'python3-os-xenapi (extracted)', python, module: 'XenAPI', env };
}

/** The PyPI XenAPI package in a cached venv (created once, under a lock shared by parallel test files). */
export async function pypiBinding(): Promise<PythonBinding> {
  const venv = path.join(cacheDir(), 'xenapi-venv');
  const python = path.join(venv, 'bin', 'python');
  if (!(await importable(python, 'XenAPI'))) {
    await mkdir(cacheDir(), { recursive: true });
    await run(
      'flock',
      [
        path.join(cacheDir(), 'xenapi-venv.lock'),
        'sh',
        '-c',
        '"$1" -c "import XenAPI" 2>/dev/null || { /usr/bin/python3 -m venv "$2" && "$2/bin/pip" install -q XenAPI; }',
        'sh',
        python,
        venv,
      ],
      { timeout: 300_000 },
    );
  }
  return { name: 'PyPI XenAPI', python, module: 'XenAPI', env: process.env };
}
