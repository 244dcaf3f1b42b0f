// `npm test` after build and lint: starts the services the suites share (see test/helpers/services.ts),
// then runs node's test runner over the compiled test files. Arguments filter the files by substring,
// e.g. `node dist/test/run.js disk/ pack/`.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSharedServices } from './helpers/services.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'fixtures' ? [] : findTests(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = findTests(here)
    .filter((f) => filters.length === 0 || filters.some((flt) => path.relative(here, f).includes(flt)))
    .sort();
  if (files.length === 0) {
    console.error('no test files matched');
    return 1;
  }
  const services = await startSharedServices(files.map((f) => path.relative(here, f)));
  try {
    const concurrency = process.env.XENIMAGE_TEST_CONCURRENCY ?? String(Math.max(2, os.availableParallelism()));
    const child = spawn(
      process.execPath,
      ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
      { stdio: 'inherit', env: { XENIMAGE_LOG_LEVEL: 'warn', ...process.env, ...services.env } },
    );
    return await new Promise<number>((resolve) =>
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))),
    );
  } finally {
    await services.stop();
  }
}

process.exitCode = await main();
