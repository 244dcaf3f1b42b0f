// `xenimage convert` as an operator runs it: a child process with commander, real files, exit codes, one-line
// errors, no partial output on failure or Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { MiB, assertTapVhd, qemuCompare, run, seededBytes } from './support.js';

async function cliScript(dir: string): Promise<string> {
  const script = path.join(dir, 'cli.mjs');
  const convert = new URL('../../src/cli/convert.js', import.meta.url).href;
  await writeFile(
    script,
    `import { Command } from '${import.meta.resolve('commander')}';\nimport { registerConvertCommand } from '${convert}';\n` +
      `const program = new Command('xenimage').exitOverride();\nregisterConvertCommand(program);\nawait program.parseAsync(process.argv);\n`,
  );
  return script;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(script: string, args: string[], onStart?: (child: ReturnType<typeof spawn>) => void): Promise<Run> {
  const child = spawn(process.execPath, [script, 'convert', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  onStart?.(child);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function source(dir: string, dataMiB: number): Promise<string> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(Math.max(64, dataMiB * 2) * MiB);
  for (let i = 0; i < dataMiB; i++) await fh.write(seededBytes(MiB, `cli-${i}`), 0, MiB, i * 2 * MiB);
  await fh.close();
  const file = path.join(dir, 'src.qcow2');
  await run('qemu-img', ['convert', '-O', 'qcow2', raw, file]);
  return file;
}

test('convert writes a tap VHD and a .tgz, prints a JSON summary, and exits 0', async (t) => {
  const dir = await tempDir(t);
  const scriptDir = await tempDir(t);
  const script = await cliScript(scriptDir);
  const src = await source(dir, 4);
  const vhd = path.join(dir, 'out.vhd');
  const r1 = await cli(script, [src, vhd]);
  assert.equal(r1.code, 0, r1.stderr);
  const summary = JSON.parse(r1.stdout) as { sourceFormat: string; virtualSize: number; vhdBytes: number };
  assert.equal(summary.sourceFormat, 'qcow2');
  assert.match(await qemuCompare(src, vhd, 'qcow2'), /identical/);
  await assertTapVhd(vhd, summary.virtualSize);

  const tgz = path.join(dir, 'out.tgz');
  const r2 = await cli(script, [src, tgz, '--level', '1']);
  assert.equal(r2.code, 0, r2.stderr);
  const s2 = JSON.parse(r2.stdout) as { md5: string };
  assert.equal(s2.md5, (await run('md5sum', [tgz])).split(' ')[0]);
  assert.match(await run('tar', ['-tzf', tgz]), /^0\.vhd\n$/);
  assert.deepEqual((await readdir(dir)).sort(), ['out.tgz', 'out.vhd', 'src.qcow2', 'src.raw']);
});

test('bad input and bad usage exit non-zero with one line and leave no partial file', async (t) => {
  const dir = await tempDir(t);
  const scriptDir = await tempDir(t);
  const script = await cliScript(scriptDir);
  const src = await source(dir, 2);
  const broken = path.join(dir, 'broken.qcow2');
  const fh = await open(src, 'r');
  const head = Buffer.alloc(64 * 1024);
  await fh.read(head, 0, head.length, 0);
  await fh.close();
  head.writeBigUInt64BE(1n << 40n, 40); // L1 table far beyond the end
  await writeFile(broken, head);
  const r = await cli(script, [broken, path.join(dir, 'x.tgz')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^xenimage convert: .*L1 table lies beyond the end of the file.*\n$/);
  assert.equal(r.stderr.trim().split('\n').length, 1);

  const missing = await cli(script, [path.join(dir, 'nope.qcow2'), path.join(dir, 'x.vhd')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot open .*nope\.qcow2: ENOENT/);

  const ext = await cli(script, [src, path.join(dir, 'x.img')]);
  assert.equal(ext.code, 2);
  const level = await cli(script, [src, path.join(dir, 'x.tgz'), '--level', '12']);
  assert.notEqual(level.code, 0);
  assert.deepEqual((await readdir(dir)).sort(), ['broken.qcow2', 'src.qcow2', 'src.raw']);
});

test('Ctrl-C mid-conversion exits 130 and removes the partial file', async (t) => {
  const dir = await tempDir(t);
  const scriptDir = await tempDir(t);
  const script = await cliScript(scriptDir);
  const src = await source(dir, 160);
  const dst = path.join(dir, 'big.tgz');
  let interrupted: Promise<void> | undefined;
  const r = await cli(script, [src, dst, '--level', '9'], (child) => {
    // Ctrl-C once the conversion is writing (its partial file exists), not at some moment chosen by a sleep.
    interrupted = waitFor(
      'the partial output to appear',
      async () => (await readdir(dir)).some((f) => f.includes('.partial-')),
      30_000,
    ).then(
      () => void child.kill('SIGINT'),
      (err: unknown) => {
        child.kill('SIGKILL');
        throw err;
      },
    );
  });
  await interrupted;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted/);
  assert.deepEqual((await readdir(dir)).sort(), ['src.qcow2', 'src.raw']);
});
