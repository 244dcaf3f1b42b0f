// convertImage end to end on the real Temporal dev server, a real worker and the real Glance.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { buildTag, type OpenStackCloud } from '../../src/openstack/index.js';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { ConvertImageInput } from '../../src/contracts/convertInput.js';
import { identityFromHistory, identityOf } from '../helpers/builds.js';
import { testOpenStack } from '../helpers/openstack.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { onTeardown } from '../helpers/teardown.js';
import { waitFor } from '../helpers/waitFor.js';
import { startTestWorker } from '../helpers/worker.js';

const run = promisify(execFile);

/** The innermost ApplicationFailure of a workflow failure. */
function rootFailure(err: unknown): ApplicationFailure | undefined {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

async function imagesOfBuild(cloud: OpenStackCloud, build: string) {
  return cloud.glance.listImages({ tag: buildTag(build) });
}

describe('convertImage workflow', () => {
  let client: Client;
  let taskQueue: string;
  let cloud: OpenStackCloud;
  let cloudName: string;
  let dir: string;
  let qcow2: string;

  before(async () => {
    const [target, openstack] = await Promise.all([testTemporal(), testOpenStack()]);
    client = await testClient(target);
    dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-convert-'));
    onTeardown(() => rm(dir, { recursive: true, force: true }));
    // The test's folder is where inputs may read; its own HTTP server on loopback is where they may connect.
    taskQueue = (
      await startTestWorker(target, 'convert', {
        cloudsFile: openstack.cloudsFile,
        sourceDirs: [dir],
        networkAllow: ['127.0.0.0/8'],
      })
    ).taskQueue;
    cloud = openstack.open();
    cloudName = openstack.cloud;
    // 100 MiB + 1 MiB virtual (not a multiple of 2 MiB), data in three places, one zero cluster.
    qcow2 = path.join(dir, 'source.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, String(101 * 1024 * 1024)]);
    await run('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      'write -P 0x5a 0 3M',
      '-c',
      'write -P 0xa5 50M 1M',
      '-c',
      'write -z 60M 2M',
      '-c',
      'write -P 0x11 100M 512k',
      qcow2,
    ]);
  });

  function input(overrides: Partial<ConvertImageInput> = {}): ConvertImageInput {
    return {
      source: { path: qcow2 },
      image: { name: `convert-test-${randomUUID().slice(0, 6)}`, properties: { os_distro: 'debian' } },
      vmMode: 'xen',
      osType: 'linux',
      cloud: cloudName,
      ...overrides,
    };
  }

  test('a qcow2 becomes an active, verified Glance image with the XenServer properties', async () => {
    const workflowId = `convert-${randomUUID()}`;
    const handle = await client.workflow.start('convertImage', { taskQueue, workflowId, args: [input()] });
    const result = (await handle.result()) as {
      imageId: string;
      checksum: string;
      verified: { imageId: string; md5: string; entry: string; virtualSize: number; checks: string[] };
      virtualSize: number;
      format: string;
    };
    // The verification that ran on the image as Glance holds it.
    assert.deepEqual(
      [result.verified.imageId, result.verified.md5, result.verified.entry, result.verified.virtualSize],
      [result.imageId, result.checksum, '0.vhd', result.virtualSize],
    );
    for (const check of ['status active', 'single gzip member', 'sole entry 0.vhd', 'tap VHD structure', 'md5'])
      assert.ok(result.verified.checks.includes(check), `${check} in ${result.verified.checks.join(', ')}`);
    assert.equal(result.format, 'qcow2');
    assert.equal(result.virtualSize, 102 * 1024 * 1024, 'rounded up to 2 MiB');

    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.status, 'active');
    assert.equal(image.container_format, 'ovf');
    assert.equal(image.disk_format, 'vhd');
    assert.equal(image.vm_mode, 'xen');
    assert.equal(image.os_type, 'linux');
    assert.equal(image.os_distro, 'debian');
    assert.equal(image.checksum, result.verified.md5);
    assert.ok(image.tags.includes(buildTag(identityOf(handle))), 'tagged with the build identity');

    const progress = await handle.query<BuildProgress>('progress');
    assert.equal(progress.state, 'succeeded');
    assert.equal(progress.build, identityOf(handle));
    assert.deepEqual(
      progress.steps.map((s) => `${s.step}:${s.status}`),
      ['inspect:done', 'check cloud:done', 'convert and upload:done', 'verify:done'],
    );
    // Each step's times come from the workflow clock, in order.
    let previous = '';
    for (const s of progress.steps) {
      assert.ok(s.startedAt && s.endedAt, `${s.step} has its times`);
      assert.ok(!Number.isNaN(Date.parse(s.startedAt)) && s.startedAt === new Date(s.startedAt).toISOString());
      assert.ok(previous <= s.startedAt && s.startedAt <= s.endedAt, `${s.step} starts after the one before`);
      previous = s.endedAt;
    }
    const described = await handle.describe();
    assert.equal(described.searchAttributes.XenimageKind?.[0], 'convert');
    assert.equal(described.searchAttributes.XenimageStep?.[0], 'succeeded');
    // The transfer retries until its budget is spent, not a number of attempts (builds-0006).
    const history = await handle.fetchHistory();
    const transfer = history.events?.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'convertToGlance',
    )?.activityTaskScheduledEventAttributes;
    assert.ok(transfer, 'convertToGlance was scheduled');
    assert.equal(transfer.retryPolicy?.maximumAttempts ?? 0, 0, 'no attempt limit');
    assert.equal(Number(transfer.scheduleToCloseTimeout?.seconds), 6 * 3600, 'the transfer budget, 6 h');
  });

  test('a new run under a reused workflow ID makes its own image: it neither reuses nor deletes the earlier one', async () => {
    const workflowId = `convert-again-${randomUUID()}`;
    const same = input();
    const first = await client.workflow.start('convertImage', { taskQueue, workflowId, args: [same] });
    const a = (await first.result()) as { imageId: string; reused: boolean };
    // The same workflow ID once the first run closed: a new run, with an identity of its own.
    const second = await client.workflow.start('convertImage', { taskQueue, workflowId, args: [same] });
    assert.notEqual(identityOf(second), identityOf(first));
    const b = (await second.result()) as { imageId: string; reused: boolean };
    assert.notEqual(b.imageId, a.imageId, "the earlier run's image was not reused");
    assert.equal(b.reused, false);
    assert.equal((await cloud.glance.getImage(a.imageId)).status, 'active', 'the earlier image stands');
    assert.deepEqual(
      (await imagesOfBuild(cloud, identityOf(first))).map((i) => i.id),
      [a.imageId],
      'each run tags only its own image',
    );
    assert.deepEqual(
      (await imagesOfBuild(cloud, identityOf(second))).map((i) => i.id),
      [b.imageId],
    );
  });

  test('bad input fails at once as InvalidInput and creates nothing', async () => {
    const workflowId = `convert-bad-${randomUUID()}`;
    const bad = { ...input(), source: { path: 'relative/disk.qcow2' }, image: { name: '' }, vmMode: 'pv' };
    await assert.rejects(
      client.workflow.execute('convertImage', { taskQueue, workflowId, args: [bad] }),
      (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.type, 'InvalidInput');
        assert.match(failure.message, /source/);
        assert.match(failure.message, /image\.name/);
        assert.match(failure.message, /vmMode/);
        return true;
      },
    );
    assert.deepEqual(await imagesOfBuild(cloud, await identityFromHistory(client.workflow.getHandle(workflowId))), []);
  });

  test('a source that is not a disk image fails typed, before any image exists', async () => {
    const workflowId = `convert-missing-${randomUUID()}`;
    await assert.rejects(
      client.workflow.execute('convertImage', {
        taskQueue,
        workflowId,
        args: [input({ source: { path: path.join(dir, 'nope.qcow2') } })],
      }),
      (err: unknown) => {
        const failure = rootFailure(err);
        assert.ok(failure, 'an application failure');
        assert.equal(failure.nonRetryable, true);
        return true;
      },
    );
    assert.deepEqual(await imagesOfBuild(cloud, await identityFromHistory(client.workflow.getHandle(workflowId))), []);
  });

  test('an unknown cloud fails typed before any image exists', async () => {
    const workflowId = `convert-cloud-${randomUUID()}`;
    await assert.rejects(
      client.workflow.execute('convertImage', { taskQueue, workflowId, args: [input({ cloud: 'no-such-cloud' })] }),
      (err: unknown) => {
        const failure = rootFailure(err);
        assert.equal(failure?.nonRetryable, true);
        assert.match(failure.message, /no-such-cloud/);
        return true;
      },
    );
  });

  test('cancelled during the upload: the activity stops and the build leaves no image behind', async (t) => {
    // A slow HTTP source (Range support, throttled) keeps the transfer running long enough to cancel it.
    const size = (await stat(qcow2)).size;
    const server = http.createServer((req, res) => {
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      if (!m) {
        res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' });
        if (req.method === 'HEAD') return res.end();
        return createReadStream(qcow2).pipe(res);
      }
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), size - 1);
      res.writeHead(206, {
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${size}`,
        'accept-ranges': 'bytes',
      });
      setTimeout(() => createReadStream(qcow2, { start, end }).pipe(res), req.method === 'HEAD' ? 0 : 150);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.qcow2`;

    const workflowId = `convert-cancel-${randomUUID()}`;
    const handle = await client.workflow.start('convertImage', {
      taskQueue,
      workflowId,
      args: [
        input({
          source: { url },
          tuning: {
            heartbeatTimeout: '10s',
            retryInitialInterval: '1s',
            maxRetryInterval: '5s',
            transferTimeout: '10m',
          },
        }),
      ],
    });
    await waitFor(
      'the upload to begin',
      async () =>
        (await handle.query<BuildProgress>('progress')).step === 'convert and upload' &&
        (await imagesOfBuild(cloud, identityOf(handle))).length > 0,
      120_000,
      100,
    );
    await handle.cancel();
    await assert.rejects(
      handle.result(),
      (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure,
    );
    const progress = await handle.query<BuildProgress>('progress');
    assert.equal(progress.state, 'cancelled');
    assert.deepEqual(await imagesOfBuild(cloud, identityOf(handle)), [], 'no image of the cancelled build remains');
  });
});
