// Determinism guard: every recorded history in test/histories/ replays on the current workflow code. Record a
// new one with `xenimage history <id> --out test/histories/<name>.json` after a build of a new shape; when a
// change breaks a replay, version it with `patched()`, or — when running builds could not survive the change
// anyway — re-record the history from the new code and say so in a decision page (as
// docs/decisions/builds-0002-injected-activities-and-running-builds.md does). Never edit a history by hand.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/temporal/worker.js';
import { testLogger } from '../helpers/logger.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/histories');

const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();

test('there are recorded histories to replay', () => {
  assert.ok(files.length > 0);
});

for (const file of files) {
  test(`replays ${file}`, async () => {
    const history: unknown = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    await Worker.runReplayHistory(
      { workflowBundle: await workflowBundle(testLogger()) },
      history,
      path.basename(file, '.json'),
    );
  });
}
