// `xenimage status`, `list` and `logs` as operators use them: the views on their own (durations, the progress
// bar on a terminal, plain figures otherwise), then against the real dev server, Glance and the XenServer lab: a
// Windows build followed with `status --watch`, found with list's filters, its guest logs printed by `logs`.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { listQuery } from '../../src/cli/actions/workflows.js';
import { formatDuration, renderGuestLogs, renderStatus, transferLine } from '../../src/cli/statusView.js';
import type { BuildProgress } from '../../src/contracts/messages.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { windowsInput } from '../helpers/builds.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/waitFor.js';

const progress: BuildProgress = {
  kind: 'windows',
  state: 'running',
  step: 'export + upload',
  attempt: 2,
  bytesDone: 12 * 1048576,
  bytesTotal: 24 * 1048576,
  steps: [
    {
      step: 'create VM',
      status: 'done',
      attempt: 1,
      note: 'OpaqueRef:1',
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:00:03.200Z',
    },
    {
      step: 'sysprep',
      status: 'failed',
      attempt: 1,
      startedAt: '2026-01-01T00:00:04Z',
      endedAt: '2026-01-01T00:04:09Z',
    },
    { step: 'export + upload', status: 'running', attempt: 2, startedAt: '2026-01-01T00:05:00Z' },
  ],
};

describe('status view', () => {
  const now = new Date('2026-01-01T02:08:00Z');

  test('durations read as seconds, minutes or hours', () => {
    assert.deepEqual(
      [formatDuration(3200), formatDuration(245_000), formatDuration(7_380_000)],
      ['3.2s', '4m05s', '2h03m'],
    );
  });

  test('a terminal gets a progress bar, a pipe plain figures', () => {
    assert.equal(transferLine(12, 24, false), '12 / 24 bytes (50.0%)');
    assert.match(
      transferLine(12 * 1048576, 24 * 1048576, true, 10),
      /^\[#####\.\.\.\.\.\] 50\.0% 12\.0 MiB \/ 24\.0 MiB$/,
    );
  });

  test('status shows each step with its duration, the current step and attempt, and the transfer', () => {
    const lines = renderStatus(
      { id: 'b1', type: 'windowsImage', status: 'RUNNING', started: '2026-01-01T00:00:00Z', progress },
      { tty: true, now },
    );
    assert.ok(lines.includes('  state   running: export + upload (attempt 2)'), lines.join('\n'));
    assert.ok(lines.some((l) => /^ {2}bytes {3}\[#+\.+\] 50\.0%/.test(l)));
    assert.ok(lines.some((l) => /done\s+3\.2s {2}create VM — OpaqueRef:1$/.test(l)));
    assert.ok(lines.some((l) => /failed\s+4m05s {2}sysprep$/.test(l)));
    // The running step is measured up to now.
    assert.ok(lines.some((l) => /running\s+2h03m {2}export \+ upload #2$/.test(l)));
    const plain = renderStatus(
      { id: 'b1', type: 'windowsImage', status: 'RUNNING', started: '2026-01-01T00:00:00Z', progress },
      { tty: false, now },
    );
    assert.ok(plain.includes(`  bytes   ${12 * 1048576} / ${24 * 1048576} bytes (50.0%)`));
    assert.ok(plain.every((l) => !l.startsWith('  bytes   [')));
  });

  test('guest logs print per collection and file, naming what the guest lacked', () => {
    const lines = renderGuestLogs([
      {
        attempt: 1,
        moment: 'sysprep failed',
        collectedAt: '2026-01-01T00:04:09Z',
        files: [{ path: 'C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log', lines: ['a', 'b'], truncated: true }],
        missing: ['C:\\cloudbase.log'],
      },
    ]);
    assert.deepEqual(lines, [
      '== attempt 1, sysprep failed, 2026-01-01T00:04:09Z ==',
      '--- C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log (earlier lines dropped)',
      'a',
      'b',
      '(not on the guest: C:\\cloudbase.log)',
    ]);
  });

  test("list's filters become one visibility query; a bad kind or a quoted image is refused", () => {
    assert.equal(
      listQuery({ query: 'XenimageKind IS NOT NULL', limit: '5', running: true, kind: 'windows', image: 'w2022' }),
      '(XenimageKind IS NOT NULL) AND (ExecutionStatus = "Running") AND (XenimageKind = "windows") AND (XenimageImage = "w2022")',
    );
    assert.throws(() => listQuery({ query: 'x', limit: '1', kind: 'linux' }), /unknown kind "linux"/);
    assert.throws(() => listQuery({ query: 'x', limit: '1', image: 'a" OR "1"="1' }), /quotes/);
  });
});

describe('status, list and logs against a Windows build', () => {
  let lab: BuildLab;
  let env: Record<string, string>;

  before(async () => {
    lab = await startBuildLab();
    env = {
      TEMPORAL_ADDRESS: lab.target.address,
      XENIMAGE_TASK_QUEUE: lab.taskQueue,
      OS_CLIENT_CONFIG_FILE: lab.openstack.cloudsFile,
    };
  });

  test('status --watch follows the build to its end; list filters find it; logs prints its guest logs', async () => {
    const image = `cli-status-${randomUUID().slice(0, 6)}`;
    const input = await windowsInput(lab, image);
    const file = path.join(lab.dir, 'windows.json');
    await writeFile(file, JSON.stringify(input));
    const id = `cli-win-${randomUUID().slice(0, 8)}`;
    const started = await runCli(['build', 'windows', file, '--id', id], env);
    assert.equal(started.code, 0, started.stderr);

    const watched = await runCli(['status', id, '--watch', '--json'], env, 600_000);
    assert.equal(watched.code, 0, watched.stderr);
    const views = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: string; progress?: BuildProgress });
    assert.ok(views.length >= 2, 'one line per change: at least a running view and the final one');
    assert.equal(views[0]?.status, 'RUNNING');
    const last = views.at(-1)!;
    assert.equal(last.status, 'COMPLETED');
    assert.ok(
      last.progress?.steps.every((s) => s.startedAt && s.endedAt),
      'every step has its start and end, so its duration',
    );

    const text = await runCli(['status', id], env);
    assert.match(text.stdout, /done\s+\d[\dhms.]*\s+verify/);

    const byImage = await waitFor('the build in list --image --kind', async () => {
      const out = await runCli(['list', '--kind', 'windows', '--image', image, '--json'], env);
      const rows = out.stdout.trim().split('\n').filter(Boolean);
      return rows.length === 1 && (JSON.parse(rows[0]!) as { id: string; status: string }).status === 'COMPLETED'
        ? rows
        : undefined;
    });
    assert.equal((JSON.parse(byImage[0]!) as { id: string }).id, id);
    const otherKind = await runCli(['list', '--kind', 'convert', '--image', image, '--json'], env);
    assert.equal(otherKind.stdout.trim(), '');
    const notRunning = await runCli(['list', '--running', '--image', image, '--json'], env);
    assert.equal(notRunning.stdout.trim(), '');

    const logs = await runCli(['logs', id], env);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^== attempt 1, before shutdown, /m);
    assert.match(logs.stdout, /^--- .*Panther.*setupact\.log/im);
    const json = JSON.parse((await runCli(['logs', id, '--json'], env)).stdout) as {
      guestLogs: Array<{ files: Array<{ path: string; lines: string[] }> }>;
    };
    const setupact = json.guestLogs[0]!.files.find((f) => f.path.endsWith('Sysprep\\Panther\\setupact.log'));
    assert.ok(
      setupact?.lines.some((l) => /Sysprep_succeeded\.tag|tag file/i.test(l)),
      'Panther says sysprep succeeded',
    );
  });
});
