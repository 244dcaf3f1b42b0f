// Independent clients written by others drive the lab over XML-RPC and HTTP: login (with the calls each binding
// makes on connect), records, clone and provision, VBD create and insert, start, event.from, Async tasks, export
// and import, and the precondition errors. Any mismatch raises in the Python script (fixtures/).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestLab } from '../../helpers/xapiLab.js';
import { debianBinding, type PythonBinding, pypiBinding } from './pythonClients.js';

const run = promisify(execFile);
// The script lives beside this file's source (tests run from dist/, fixtures stay in test/).
const script = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../test/lab/xapi/fixtures/xenapi_client_check.py',
);
const STEPS = [
  'login',
  'pool, host and system.listMethods',
  'records',
  'clone and provision',
  'VBD create and insert, VIF',
  'start and event.from',
  'precondition errors',
  'Async task',
  'import and export',
  'destroy',
  'logout',
];

async function check(t: Parameters<typeof startTestLab>[0], binding: PythonBinding): Promise<void> {
  const lab = await startTestLab(t);
  const { stdout } = await run(binding.python, [script, binding.module, lab.url, lab.username, lab.password], {
    env: binding.env,
    timeout: 60_000,
  }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`${binding.name} failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  assert.deepEqual(
    stdout.trim().split('\n'),
    STEPS.map((s) => `ok: ${s}`),
  );
}

test("Debian's python3-os-xenapi drives the lab", async (t) => {
  await check(t, await debianBinding());
});

test('the PyPI XenAPI package drives the lab', async (t) => {
  await check(t, await pypiBinding());
});
