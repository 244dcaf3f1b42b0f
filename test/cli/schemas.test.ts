// The published input schemas (docs/inputs/) are exactly what the code validates: regenerate them with
// `node dist/src/cli/main.js schema --write docs/inputs` when an input changes.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILD_KINDS } from '../../src/cli/buildKinds.js';
import { schemaText } from '../../src/cli/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

for (const kind of Object.keys(BUILD_KINDS) as Array<keyof typeof BUILD_KINDS>) {
  test(`docs/inputs/${kind}.schema.json matches the ${kind} input schema`, async () => {
    const published = await readFile(path.join(root, 'docs', 'inputs', `${kind}.schema.json`), 'utf8');
    assert.equal(published, schemaText(kind));
  });
}

for (const kind of Object.keys(BUILD_KINDS) as Array<keyof typeof BUILD_KINDS>) {
  test(`docs/inputs/${kind}.sample.json is a valid ${kind} input`, async () => {
    const sample: unknown = JSON.parse(
      await readFile(path.join(root, 'docs', 'inputs', `${kind}.sample.json`), 'utf8'),
    );
    const parsed = BUILD_KINDS[kind].schema.safeParse(sample);
    assert.ok(parsed.success, parsed.error?.message);
  });
}
