// The published input schemas (docs/inputs/) are exactly what the code validates: regenerate them with
// `node dist/src/cli/main.js schema --write docs/inputs` when an input changes.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILD_KIND_NAMES } from '../../src/cli/buildKinds.js';
import { BUILD_SCHEMAS } from '../../src/cli/buildSchemas.js';
import { schemaText } from '../../src/cli/actions/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

for (const kind of BUILD_KIND_NAMES) {
  test(`docs/inputs/${kind}.schema.json matches the ${kind} input schema`, async () => {
    const published = await readFile(path.join(root, 'docs', 'inputs', `${kind}.schema.json`), 'utf8');
    assert.equal(published, schemaText(kind));
  });
}

for (const kind of BUILD_KIND_NAMES) {
  test(`docs/inputs/${kind}.sample.json is a valid ${kind} input`, async () => {
    const sample: unknown = JSON.parse(
      await readFile(path.join(root, 'docs', 'inputs', `${kind}.sample.json`), 'utf8'),
    );
    const parsed = BUILD_SCHEMAS[kind].safeParse(sample);
    assert.ok(parsed.success, parsed.error?.message);
  });
}
