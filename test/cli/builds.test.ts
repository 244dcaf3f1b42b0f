// The CLI against the real dev server and Glance: build --wait, status, list, schedules; bad input refused with
// one line and nothing started.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { runCli } from '../helpers/cli.js';
import { testOpenStack } from '../helpers/openstack.js';
import { onTeardown } from '../helpers/teardown.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { waitFor } from '../helpers/waitFor.js';
import { startTestWorker } from '../helpers/worker.js';

const run = promisify(execFile);

describe('xenimage CLI', () => {
  let env: Record<string, string>;
  let client: Client;
  let inputFile: string;
  let dir: string;

  before(async () => {
    const [target, openstack] = await Promise.all([testTemporal(), testOpenStack()]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-cli-'));
    onTeardown(() => rm(dir, { recursive: true, force: true }));
    const worker = await startTestWorker(target, 'cli', { cloudsFile: openstack.cloudsFile, sourceDirs: [dir] });
    client = await testClient(target);
    env = {
      TEMPORAL_ADDRESS: target.address,
      XENIMAGE_TASK_QUEUE: worker.taskQueue,
      OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
    };
    const disk = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 1M 1M', disk]);
    inputFile = path.join(dir, 'convert.json');
    await writeFile(
      inputFile,
      JSON.stringify({
        source: { path: disk },
        image: { name: 'cli-test' },
        vmMode: 'hvm',
        osType: 'linux',
        cloud: openstack.cloud,
      }),
    );
  });

  test('build convert --wait prints the workflow ID, then the result; status and list show the build', async () => {
    const id = `cli-convert-${randomUUID().slice(0, 8)}`;
    const built = await runCli(['build', 'convert', inputFile, '--wait', '--id', id], env);
    assert.equal(built.code, 0, built.stderr);
    const [started, result] = built.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(started?.workflowId, id);
    assert.deepEqual((result?.verified as { imageId?: string } | undefined)?.imageId, result?.imageId);

    const status = await runCli(['status', id, '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const summary = JSON.parse(status.stdout) as { status: string; type: string; step: string };
    assert.equal(summary.status, 'COMPLETED');
    assert.equal(summary.type, 'convertImage');
    assert.equal(summary.step, 'succeeded');

    // Visibility is eventually consistent: list shows the build once the server has indexed it.
    await waitFor(
      'list to show the build',
      async () => {
        const list = await runCli(['list', '--json', '--query', `WorkflowId = "${id}"`], env);
        return list.stdout.split('\n').some((l) => l.includes(id));
      },
      30_000,
      200,
    );
  });

  test('bad input: exit code 2, one line naming the fields, no workflow started', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        source: { path: '/x' },
        image: { name: 'x', visibility: 'everyone' },
        vmMode: 'hvm',
        cloud: 'c',
        extra: 1,
      }),
    );
    const id = `cli-bad-${randomUUID().slice(0, 8)}`;
    const out = await runCli(['build', 'convert', bad, '--id', id], env);
    assert.equal(out.code, 2);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0]!, /image\.visibility/);
    assert.match(lines[0]!, /extra/);
    await assert.rejects(client.workflow.getHandle(id).describe(), /not found/i);
  });

  test('schedules: create, list, trigger a real build, pause, delete', async () => {
    const name = `golden-test-${randomUUID().slice(0, 6)}`;
    const created = await runCli(
      ['schedule', 'create', name, 'convert', inputFile, '--cron', '0 3 * * SUN', '--paused'],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const listed = await runCli(['schedule', 'list'], env);
    assert.match(listed.stdout, new RegExp(`${name}\\s+convert\\s+paused`));

    assert.equal((await runCli(['schedule', 'trigger', name], env)).code, 0);
    // The triggered build runs on the test worker and finishes.
    await waitFor(
      'the triggered build to complete',
      async () => {
        for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "golden-${name}"` }))
          if (wf.status.name === 'COMPLETED') return wf.workflowId;
        return undefined;
      },
      60_000,
      200,
    );

    assert.equal((await runCli(['schedule', 'unpause', name], env)).code, 0);
    const described = await client.schedule.getHandle(name).describe();
    assert.equal(described.state.paused, false);
    assert.equal(described.policies.catchupWindow, 6 * 3600 * 1000);
    assert.equal((await runCli(['schedule', 'delete', name], env)).code, 0);
    await assert.rejects(client.schedule.getHandle(name).describe());
  });
});
