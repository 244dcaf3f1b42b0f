// Operators' hooks against the simulated Windows: found by name in the hook folder (<stateDir>/hooks here), run in
// the guest with their output kept (scrubbed of the build's secrets); a failing hook is HookFailed with its last
// lines, an unknown one HookMissing — both non-retryable.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { MAX_HOOK_BYTES } from '../../src/windows/guest/hooks.js';
import { guestActivities as makeGuestActivities } from '../../activities/guest.js';
import { startStandaloneWindows } from '../../src/lab/guest/standalone.js';
import { testDeps } from '../helpers/deps.js';
import { tempDir } from '../helpers/tmp.js';
import { failure, run } from '../helpers/activityContext.js';

const secretEnv: Record<string, string> = {};
const secret = (value: string) => {
  const name = `hook-test-${randomBytes(6).toString('hex')}`;
  secretEnv[`XENIMAGE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = value;
  return { secret: name };
};
const LEAKED = `Leaked-${randomBytes(8).toString('hex')}`;

async function setup(t: TestContext) {
  const stateDir = await tempDir(t);
  const hooks = path.join(stateDir, 'hooks');
  await mkdir(hooks);
  await writeFile(
    path.join(hooks, 'hello.ps1'),
    [
      "$ErrorActionPreference = 'Stop'",
      "Write-Output 'hello from the hook'",
      `Write-Output 'the secret is ${LEAKED}'`,
    ].join('\r\n'),
  );
  await writeFile(path.join(hooks, 'fails.ps1'), ["Write-Output 'about to fail'", 'exit 3'].join('\r\n'));
  // What the hook folder must not hand out: a link leading out of it, a folder, a file over the size cap.
  await writeFile(path.join(stateDir, 'outside.ps1'), "Write-Output 'outside'");
  await symlink(path.join(stateDir, 'outside.ps1'), path.join(hooks, 'escape.ps1'));
  await mkdir(path.join(hooks, 'folder.ps1'));
  await writeFile(path.join(hooks, 'huge.ps1'), '');
  await truncate(path.join(hooks, 'huge.ps1'), MAX_HOOK_BYTES + 1);
  await writeFile(path.join(hooks, 'linked-inside.ps1'), "Write-Output 'inside'");
  await symlink(path.join(hooks, 'linked-inside.ps1'), path.join(hooks, 'alias.ps1'));
  const adminPassword = `Adm!n-${randomBytes(6).toString('hex')}`;
  const w = await startStandaloneWindows({ adminPassword, scale: 0.01 });
  t.after(() => w.stop());
  return {
    w,
    activities: makeGuestActivities(testDeps({ stateDir, env: secretEnv })),
    guest: {
      address: w.address,
      port: w.port,
      https: false,
      username: 'Administrator',
      password: secret(adminPassword),
    },
  };
}

test('checkHooks finds the named scripts; an unknown name is HookMissing, non-retryable', async (t) => {
  const { activities } = await setup(t);
  assert.deepEqual(
    await run(() => activities.checkHooks({ hooks: { afterInstall: ['hello'], beforeSysprep: ['hello', 'fails'] } })),
    {
      found: ['hello', 'fails'],
    },
  );
  const missing = await failure(run(() => activities.checkHooks({ hooks: { beforeCloudbaseInit: ['nope'] } })));
  assert.equal(missing.type, 'HookMissing');
  assert.equal(missing.nonRetryable, true);
  assert.match(missing.message, /nope\.ps1/);
});

test('a hook is a plain name whose file stays a regular file under its hook folder (HookRefused otherwise)', async (t) => {
  const { activities } = await setup(t);
  const check = (name: string) => run(() => activities.checkHooks({ hooks: { beforeSysprep: [name] } }));
  assert.deepEqual(await check('alias'), { found: ['alias'] }, 'a link that stays inside the folder is fine');
  for (const [name, why] of [
    ['escape', /leads outside that hook folder/],
    ['folder', /not a regular file/],
    ['huge', /larger than/],
  ] as const) {
    const refused = await failure(check(name));
    assert.equal(refused.type, 'HookRefused', name);
    assert.equal(refused.nonRetryable, true, name);
    assert.match(refused.message, why);
  }
  const dots = await failure(
    run(() =>
      activities.runHooks({
        guest: { address: '192.0.2.1', port: 5985, https: false, username: 'a', password: { secret: 'x' } },
        point: 'afterInstall',
        names: ['a..b'],
      }),
    ),
  );
  assert.equal(dots.type, 'InvalidInput');
  assert.equal(dots.nonRetryable, true);
});

test('runHooks runs the script in the guest, keeps its output scrubbed of the build secrets and leaves no copy', async (t) => {
  const { w, activities, guest } = await setup(t);
  const r = await run(() =>
    activities.runHooks({ guest, point: 'beforeSysprep', names: ['hello'], scrub: [secret(LEAKED)] }),
  );
  assert.equal(r.runs.length, 1);
  assert.deepEqual([r.runs[0]!.point, r.runs[0]!.name, r.runs[0]!.exitCode], ['beforeSysprep', 'hello', 0]);
  assert.ok(r.runs[0]!.lines.includes('hello from the hook'), JSON.stringify(r.runs[0]!.lines));
  assert.ok(!JSON.stringify(r).includes(LEAKED), 'the secret value is scrubbed');
  assert.ok(
    w.machine.commandLog.some((l) => l.includes('xenimage-hook-hello.ps1')),
    'it ran from its guest copy',
  );
  assert.equal(w.machine.readFile('C:\\Windows\\Temp\\xenimage-hook-hello.ps1'), undefined, 'the copy is gone');
});

test('a failing hook is HookFailed (non-retryable) with its exit code and last lines', async (t) => {
  const { activities, guest } = await setup(t);
  const failed = await failure(run(() => activities.runHooks({ guest, point: 'afterInstall', names: ['fails'] })));
  assert.equal(failed.type, 'HookFailed');
  assert.equal(failed.nonRetryable, true);
  assert.match(failed.message, /hook "fails" \(afterInstall\) failed with exit code 3; last lines: about to fail/);
});
