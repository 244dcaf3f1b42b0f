// Golden images that rotate, end to end against the real dev server and Glance: a schedule's runs build under the
// series' stable name, each image carries xenimage_golden, the newest verified one is current and the ones beyond
// --keep are hidden; `schedule describe` shows next runs, recent runs and the current image. A local-time
// schedule in a DST gap or repeat is warned about; a rotation the policy does not allow is refused up front.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { dstWarnings } from '../../src/cli/dstCheck.js';
import { buildSummary } from '../../src/contracts/buildSummary.js';
import { GOLDEN_CURRENT_PROPERTY, GOLDEN_PROPERTY, goldenImages } from '../../src/openstack/golden.js';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import { runCli } from '../helpers/cli.js';
import { testOpenStack } from '../helpers/openstack.js';
import { onTeardown } from '../helpers/teardown.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { startTestWorker } from '../helpers/worker.js';

const run = promisify(execFile);

describe('DST check', () => {
  const from = new Date('2027-01-01T00:00:00Z');

  test('Europe/Berlin 02:30 daily falls into the spring gap and the autumn repeat', () => {
    assert.deepEqual(
      dstWarnings('30 2 * * *', 'Europe/Berlin', from).map((w) => [w.kind, w.local]),
      [
        ['gap', '2027-03-28 02:30'],
        ['repeat', '2027-10-31 02:30'],
      ],
    );
  });

  test('03:00 on Sundays, the same zone in UTC, or an hour DST never touches: no warning', () => {
    assert.deepEqual(dstWarnings('0 3 * * SUN', 'Europe/Berlin', from), []);
    assert.deepEqual(dstWarnings('30 2 * * *', 'UTC', from), []);
    assert.deepEqual(dstWarnings('0 4 * * *', 'Europe/Berlin', from), []);
  });

  test('a repeat only: America/New_York 01:30', () => {
    assert.deepEqual(
      dstWarnings('30 1 * * *', 'America/New_York', from).map((w) => [w.kind, w.local]),
      [['repeat', '2027-11-07 01:30']],
    );
  });

  test('an unknown zone or a bad expression is invalid input', () => {
    assert.throws(() => dstWarnings('0 3 * * *', 'Mars/Olympus'), /unknown time zone "Mars\/Olympus"/);
    assert.throws(() => dstWarnings('0 25 * * *', 'Europe/Berlin'), /invalid cron expression/);
  });
});

describe('golden schedules', () => {
  let env: Record<string, string>;
  let client: Client;
  let cloud: OpenStackCloud;
  let inputFile: string;

  before(async () => {
    const [target, openstack] = await Promise.all([testTemporal(), testOpenStack()]);
    const dir = await tempDir({ after: onTeardown }, 'xenimage-golden-');
    const worker = await startTestWorker(target, 'golden', { cloudsFile: openstack.cloudsFile, sourceDirs: [dir] });
    client = await testClient(target);
    cloud = openstack.open();
    env = {
      TEMPORAL_ADDRESS: target.address,
      XENIMAGE_TASK_QUEUE: worker.taskQueue,
      OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
    };
    const disk = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', disk]);
    inputFile = path.join(dir, 'convert.json');
    await writeFile(
      inputFile,
      JSON.stringify({
        source: { path: disk },
        image: { name: 'ignored-by-schedules', properties: { os_distro: 'debian' } },
        vmMode: 'hvm',
        osType: 'linux',
        cloud: openstack.cloud,
      }),
    );
  });

  /** Triggers one run and waits for it to complete. */
  async function triggerAndWait(name: string, runs: number): Promise<void> {
    assert.equal((await runCli(['schedule', 'trigger', name], env)).code, 0);
    await waitFor(
      `run ${runs} of ${name} completed`,
      async () => {
        const d = await client.schedule.getHandle(name).describe();
        if (d.info.recentActions.length < runs) return undefined;
        const last = d.info.recentActions.at(-1)!.action;
        if (last.type !== 'startWorkflow') return undefined;
        const status = (await client.workflow.getHandle(last.workflow.workflowId).describe()).status.name;
        if (status === 'FAILED' || status === 'TERMINATED') throw new Error(`${last.workflow.workflowId}: ${status}`);
        return status === 'COMPLETED';
      },
      180_000,
      250,
    );
  }

  test('three runs: stable name, xenimage_golden on each, newest current, beyond --keep 2 hidden; describe shows it', async () => {
    const name = `gold-${randomUUID().slice(0, 6)}`;
    const created = await runCli(
      [
        'schedule',
        'create',
        name,
        'convert',
        inputFile,
        '--every',
        '7d',
        '--keep',
        '2',
        '--retire',
        'hide',
        '--paused',
      ],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    onTeardown(() =>
      client.schedule
        .getHandle(name)
        .delete()
        .catch(() => undefined),
    );
    for (let n = 1; n <= 3; n++) await triggerAndWait(name, n);

    const images = await goldenImages(cloud.glance, name);
    for (const image of images) onTeardown(() => cloud.glance.deleteImage(image.id).then(() => undefined));
    assert.equal(images.length, 3);
    assert.ok(images.every((i) => i.name === name && i[GOLDEN_PROPERTY] === name && i.os_distro === 'debian'));
    const described = await runCli(['schedule', 'describe', name, '--json'], env);
    assert.equal(described.code, 0, described.stderr);
    const view = JSON.parse(described.stdout) as {
      paused: boolean;
      spec: string;
      keep: number;
      retire: string;
      nextRuns: string[];
      recentRuns: Array<{ status: string; imageId?: string; workflowId: string }>;
      current: { id: string };
    };
    assert.equal(view.spec, 'every 7d');
    assert.deepEqual([view.keep, view.retire, view.paused], [2, 'hide', true]);
    assert.deepEqual(
      view.recentRuns.map((r) => r.status),
      ['COMPLETED', 'COMPLETED', 'COMPLETED'],
    );
    const newest = view.recentRuns[0]!.imageId;
    assert.equal(view.current.id, newest);
    const state = new Map(images.map((i) => [i.id, i]));
    assert.equal(state.get(newest!)?.[GOLDEN_CURRENT_PROPERTY], 'true');
    // The oldest is hidden; the two newest stay visible.
    const hidden = images.filter((i) => i.os_hidden === true).map((i) => i.id);
    assert.deepEqual(hidden, [view.recentRuns[2]!.imageId]);

    const text = await runCli(['schedule', 'describe', name], env);
    assert.match(text.stdout, new RegExp(`current ${newest}`));
    // Each run's build is a child with the UI's summary: kind, image, golden series.
    const child = await client.workflow.getHandle(`${view.recentRuns[0]!.workflowId}-build`).describe();
    assert.equal(await child.staticSummary(), `convert build of ${name} (golden ${name})`);
  });

  test('a local time in a DST gap is warned about; a rotation the policy forbids is refused before anything exists', async () => {
    const name = `gold-dst-${randomUUID().slice(0, 6)}`;
    const created = await runCli(
      [
        'schedule',
        'create',
        name,
        'convert',
        inputFile,
        '--cron',
        '30 2 * * *',
        '--timezone',
        'Europe/Berlin',
        '--paused',
      ],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    onTeardown(() =>
      client.schedule
        .getHandle(name)
        .delete()
        .catch(() => undefined),
    );
    assert.match(created.stderr, /warning: \d{4}-03-\d\d 02:30 does not exist in Europe\/Berlin/);
    assert.match(created.stderr, /warning: \d{4}-10-\d\d 02:30 happens twice in Europe\/Berlin/);

    const refused = `gold-bad-${randomUUID().slice(0, 6)}`;
    const bad = await runCli(
      ['schedule', 'create', refused, 'convert', inputFile, '--every', '1d', '--keep', '1', '--retire', 'delete'],
      env,
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /keep must be at least 2/);
    await assert.rejects(client.schedule.getHandle(refused).describe(), /not found/i);
  });

  test('the UI summary names kind, image, pool and source, never a secret of the input', () => {
    const { summary, details } = buildSummary(
      'windowsImage',
      {
        pool: 'lab',
        installIso: 'SERVER_EVAL.iso',
        image: { name: 'ws2022' },
        administrator: { name: 'builder', password: { secret: 'builder-admin' } },
        productKey: 'ABCDE-FGHIJ-KLMNO-PQRST-UVWXY',
        cloud: 'prod',
      },
      'ws2022',
    );
    assert.equal(summary, 'windows build of ws2022 on pool lab (golden ws2022)');
    assert.match(details, /\| pool \| lab \|/);
    assert.match(details, /\| source \| ISO SERVER_EVAL\.iso \|/);
    assert.doesNotMatch(details, /builder-admin|ABCDE|password/);
    const url = buildSummary('convertImage', {
      source: { url: 'https://user:hunter2@images.example/debian.qcow2?token=s3cret#x' },
      image: { name: 'debian' },
    });
    assert.match(url.details, /\| source \| https:\/\/images\.example\/debian\.qcow2 \|/);
    assert.doesNotMatch(url.details, /hunter2|s3cret/);
  });
});
