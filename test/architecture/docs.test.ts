// The repository explains itself (docs/architecture.md): every decision is indexed there, every document a
// source file cites exists in the repository, and nothing cites the team's notes outside it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/architecture → the repository root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SOURCE_DIRS = ['src', 'activities', 'workflows', 'test', 'bench', 'fuzz'];
const SOURCE_FILE = /\.(ts|js|mjs|py|sh)$/;

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : walk(full);
    return [full];
  });
}

const sources = [
  ...SOURCE_DIRS.flatMap((d) => walk(path.join(root, d))).filter((f) => SOURCE_FILE.test(f)),
  path.join(root, 'eslint.config.js'),
];
const markdown = [path.join(root, 'README.md'), ...walk(path.join(root, 'docs')).filter((f) => f.endsWith('.md'))];

test('every decision in docs/decisions/ is listed in docs/architecture.md', () => {
  const architecture = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
  const unlisted = readdirSync(path.join(root, 'docs/decisions'))
    .filter((name) => name.endsWith('.md'))
    .filter((name) => !architecture.includes(`decisions/${name}`));
  assert.deepEqual(unlisted, [], 'decisions missing from the index in docs/architecture.md');
});

test('every docs/… document a source file cites exists', () => {
  const missing: string[] = [];
  for (const file of sources) {
    for (const [cited] of readFileSync(file, 'utf8').matchAll(/\bdocs\/[\w./-]+\.(md|svg|png)/g)) {
      if (!existsSync(path.join(root, cited))) missing.push(`${path.relative(root, file)} cites ${cited}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('no source file or document cites the team notes outside the repository', () => {
  // The names the first wave used for documents that now live in docs/reference/ under other names.
  const outside =
    /ARCHITECTURE\.md|\.\.\/shared\/|\/work\/shared|shared\/reference|windows-guest\.md|disk-formats\.md|openstack-glance\.md/;
  const offenders = [...sources, ...markdown]
    .filter((file) => !file.includes(`${path.sep}docs${path.sep}reference${path.sep}`))
    .filter((file) => !file.endsWith(`architecture${path.sep}docs.test.ts`)) // this file names them to find them
    .filter((file) => outside.test(readFileSync(file, 'utf8')))
    .map((file) => path.relative(root, file));
  assert.deepEqual(offenders, []);
});

test('relative links between documents resolve', () => {
  const broken: string[] = [];
  for (const file of markdown) {
    for (const [, target = ''] of readFileSync(file, 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // absolute URLs
      if (!existsSync(path.resolve(path.dirname(file), target)))
        broken.push(`${path.relative(root, file)} → ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
