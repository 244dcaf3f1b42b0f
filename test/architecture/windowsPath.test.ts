// The Windows path in docs/architecture.md is one hop per step: for each row of its table, the activity named is
// called from the workflow as written, is defined in the activities file named, and the src/ modules (and the
// functions named in them) exist. A rename that leaves the table behind fails here.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/architecture → the repository root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

const workflowFiles = [
  'workflows/windowsImage.ts',
  ...['workflows/windows', 'workflows/build'].flatMap((d) =>
    readdirSync(path.join(root, d))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `${d}/${f}`),
  ),
];
const workflowText = workflowFiles.map(read).join('\n');

interface Row {
  step: string;
  activities: string[];
  modules: string[];
}

function windowsPathRows(): Row[] {
  const doc = read('docs/architecture.md');
  const section = doc.slice(doc.indexOf('### Windows image'), doc.indexOf('### Generic image'));
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*(step|-)/.test(line))
    .map((line) => {
      const [step = '', activities = '', modules = ''] = line.split('|').slice(1, 4);
      const ticks = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      return { step: step.trim(), activities: ticks(activities), modules: ticks(modules) };
    });
}

/** A file named in a cell: a repository path, a path under workflows/, or a bare name in the last path's folder. */
function resolveFile(name: string, lastDir: string | undefined): string | undefined {
  for (const candidate of [name, `workflows/${name}`, lastDir ? `${lastDir}/${name}` : undefined]) {
    if (candidate && existsSync(path.join(root, candidate))) return candidate;
  }
  return undefined;
}

const rows = windowsPathRows();

test('the Windows path table has a row per step', () => {
  assert.ok(rows.length >= 20, `${rows.length} rows`);
});

test('every activity in the table is called by the workflow and defined in the activities file named beside it', () => {
  const problems: string[] = [];
  for (const row of rows) {
    const files = row.activities.filter((t) => t.endsWith('.ts'));
    const defined = files.map((f) => resolveFile(f, undefined)).filter((f): f is string => f !== undefined);
    if (defined.length !== files.length) problems.push(`${row.step}: a file of ${files.join(', ')} does not exist`);
    const activitiesFiles = defined.filter((f) => f.startsWith('activities/'));
    const text = activitiesFiles.map(read).join('\n');
    for (const token of row.activities.filter((t) => !t.endsWith('.ts'))) {
      const [proxy, name] = token.includes('.') ? token.split('.') : [undefined, token];
      const called = new RegExp(proxy ? `\\b${proxy}\\.${name}\\b` : `\\.${name}\\(`).test(workflowText);
      if (!called) problems.push(`${row.step}: ${token} is not called by the workflow`);
      // `build.…` is the workflow's own scaffolding (workflows/build/), not an activity.
      if (proxy === 'build' || activitiesFiles.length === 0) continue;
      if (!new RegExp(`^\\s+(async )?${name}[:(]`, 'm').test(text))
        problems.push(`${row.step}: ${name} is not defined in ${activitiesFiles.join(', ')}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every src/ module and function the table names exists', () => {
  const problems: string[] = [];
  for (const row of rows) {
    let lastFile: string | undefined;
    for (const token of row.modules) {
      if (token.endsWith('.ts')) {
        const file = resolveFile(token, lastFile && path.dirname(lastFile));
        if (!file) problems.push(`${row.step}: ${token} does not exist`);
        lastFile = file ?? lastFile;
      } else if (!lastFile || !new RegExp(`export (async )?(function|const) ${token}\\b`).test(read(lastFile))) {
        problems.push(`${row.step}: ${token} is not exported by ${lastFile ?? '(no file)'}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
