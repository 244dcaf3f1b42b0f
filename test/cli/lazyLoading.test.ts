// The CLI loads only what a command uses: `xenimage --help` and `convert --help` load neither Temporal, zod,
// pino nor the lab; `status` loads the Temporal client but not the worker or the lab. Modules are seen through a
// module-resolution hook (node:module register) that records every URL the child process resolves, not by timing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { buildProgram, DELEGATED_COMMANDS } from '../../src/cli/program.js';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const execFileAsync = promisify(execFile);

const HEAVY = {
  temporal: /\/node_modules\/@temporalio\//,
  temporalWorker: /\/node_modules\/@temporalio\/worker\//,
  zod: /\/node_modules\/zod\//,
  pino: /\/node_modules\/pino\//,
  lab: /\/dist\/src\/lab\//,
  activities: /\/dist\/activities\//,
};

/** Runs the CLI with a resolve hook that appends each resolved URL to a file; returns the URLs and the output. */
async function loadedBy(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ urls: string[]; code: number; stdout: string; stderr: string }> {
  const log = path.join(dir, `urls-${args.join('-').replace(/[^a-z-]/gi, '')}.txt`);
  await writeFile(log, '');
  const hook = path.join(dir, 'hook.mjs');
  await writeFile(
    hook,
    `import { appendFileSync } from 'node:fs';\nlet out;\nexport function initialize(data) { out = data.out; }\n` +
      `export async function resolve(specifier, context, next) {\n  const r = await next(specifier, context);\n` +
      `  appendFileSync(out, r.url + '\\n');\n  return r;\n}\n`,
  );
  const register = path.join(dir, `register-${path.basename(log, '.txt')}.mjs`);
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)}, { data: { out: ${JSON.stringify(log)} } });\n`,
  );
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['--import', pathToFileURL(register).href, CLI, ...args],
      { env: { ...process.env, XENIMAGE_STATE_DIR: path.join(dir, 'state'), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
  const urls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  return { urls, ...result };
}

function assertNotLoaded(urls: string[], kinds: Array<keyof typeof HEAVY>, what: string): void {
  // The hook must have seen the CLI itself and commander, or an empty list would pass.
  assert.ok(
    urls.some((u) => u.endsWith('/dist/src/cli/main.js')),
    `${what}: the hook saw main.js`,
  );
  assert.ok(
    urls.some((u) => u.includes('/node_modules/commander/')),
    `${what}: the hook saw commander`,
  );
  for (const kind of kinds) {
    const hit = urls.find((u) => HEAVY[kind].test(u));
    assert.equal(hit, undefined, `${what} loaded ${kind}: ${hit}`);
  }
}

test('xenimage --help loads neither Temporal, zod, pino, the activities nor the lab', async (t) => {
  const dir = await tempDir(t);
  const r = await loadedBy(dir, ['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Commands:/);
  assertNotLoaded(r.urls, ['temporal', 'zod', 'pino', 'lab', 'activities'], '--help');
});

test('subcommand help (convert, status, build convert, schedule create) loads only definitions', async (t) => {
  const dir = await tempDir(t);
  for (const args of [
    ['convert', '--help'],
    ['status', '--help'],
    ['build', 'convert', '--help'],
    ['schedule', 'create', '--help'],
  ]) {
    const r = await loadedBy(dir, args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: xenimage /);
    assertNotLoaded(r.urls, ['temporal', 'zod', 'pino', 'lab', 'activities'], args.join(' '));
  }
});

test('status loads the Temporal client but not the worker, the activities or the lab', async (t) => {
  const dir = await tempDir(t);
  const r = await loadedBy(dir, ['status', 'some-build'], { TEMPORAL_ADDRESS: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^xenimage: TemporalNotConfigured: /);
  assert.ok(
    r.urls.some((u) => u.includes('/node_modules/@temporalio/client/')),
    'status uses the client',
  );
  assertNotLoaded(r.urls, ['temporalWorker', 'lab', 'activities'], 'status');
});

test('convert loads the data path but not Temporal or the lab', async (t) => {
  const dir = await tempDir(t);
  const r = await loadedBy(dir, ['convert', path.join(dir, 'missing.qcow2'), path.join(dir, 'out.vhd')]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(
    r.urls.some((u) => u.includes('/dist/src/pack/')),
    'convert uses the data path',
  );
  assertNotLoaded(r.urls, ['temporal', 'lab', 'activities'], 'convert');
});

test("convert of a qcow2 to .vhd loads neither qemu-img's module nor child_process (start-up RSS)", async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'small.qcow2');
  await execFileAsync('qemu-img', ['create', '-q', '-f', 'qcow2', src, '8M']);
  const r = await loadedBy(dir, ['convert', src, path.join(dir, 'out.vhd')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"sourceFormat":"qcow2"/);
  for (const unwanted of ['/dist/src/disk/qemuImg.js', 'node:child_process', 'node:readline']) {
    assert.equal(
      r.urls.find((u) => u.endsWith(unwanted)),
      undefined,
      `convert of a qcow2 loaded ${unwanted}`,
    );
  }
});

test('the delegated commands (lab, worker) show the descriptions of their real definitions', async () => {
  const program = buildProgram();
  for (const spec of Object.values(DELEGATED_COMMANDS)) {
    const register = await spec.load();
    const real = new Command('xenimage');
    register(real);
    const realCommand = real.commands.find((c) => c.name() === spec.name);
    assert.ok(realCommand, `${spec.name} is defined by its module`);
    assert.equal(program.commands.find((c) => c.name() === spec.name)?.description(), realCommand.description());
  }
});

test('xenimage help worker and worker --help print the real options', async (t) => {
  const dir = await tempDir(t);
  for (const args of [
    ['help', 'worker'],
    ['worker', '--help'],
  ]) {
    const r = await loadedBy(dir, args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--pool <name\.\.\.>/, args.join(' '));
  }
});
