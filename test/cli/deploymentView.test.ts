// What `xenimage deployment describe` tells an operator about each version that is not taking new builds: still
// running builds (keep its workers, and how to list them), drained (stop them), never activated, or not settled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderDeployment } from '../../src/cli/actions/deployment.js';
import type { VersionView } from '../../src/temporal/deployments.js';

const version = (buildId: string, v: Partial<VersionView>): VersionView => ({
  buildId,
  status: 'draining',
  runningBuilds: 0,
  taskQueues: ['xenimage/workflow'],
  drained: false,
  ...v,
});

test('describe says per version whether its workers must stay, may stop, or take no builds yet', () => {
  const lines = renderDeployment({
    name: 'site',
    current: 'C',
    ramping: { buildId: 'D', percent: 10 },
    versions: [
      version('A', { runningBuilds: 2 }),
      version('B', { status: 'drained', drained: true }),
      version('C', { status: 'current' }),
      version('D', { status: 'ramping' }),
      version('E', { status: 'inactive', drained: true }),
      version('F', { deactivatedAt: '2026-12-05T15:00:00.000Z' }),
    ],
  });
  assert.equal(lines[1], 'current: C');
  assert.equal(lines[2], 'ramping: D takes 10% of new builds');
  const notes = lines.filter((l) => /^[A-F]: /.test(l));
  assert.deepEqual(notes, [
    `A: 2 running build(s) pinned to it: keep its workers until none is left (xenimage list --query 'TemporalWorkerDeploymentVersion = "site:A" AND ExecutionStatus = "Running"')`,
    'B: drained, its workers may be stopped',
    'E: takes no builds until set current (xenimage deployment set-current site E) or ramping',
    'F: no running build seen yet; stopped taking builds at 2026-12-05T15:00:00.000Z: ask again in a minute',
  ]);
});
