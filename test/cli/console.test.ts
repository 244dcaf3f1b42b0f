// The Web UI as a console, against the real dev server and Glance: a build started by the CLI carries a static
// summary and details without secrets, each activity a summary naming its step, the workflow its current details
// and described handlers (the `__temporal_workflow_metadata` query the UI reads); the Start Workflow JSON the
// operator guide documents is the samples', validates, and starts builds on the polled `xenimage` queue.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { BUILD_SCHEMAS } from '../../src/cli/buildSchemas.js';
import { parseInput } from '../../src/contracts/validate.js';
import type { BuildProgress } from '../../src/contracts/messages.js';
import { createActivities } from '../../activities/index.js';
import { renderDetails } from '../../workflows/build/console.js';
import { runCli } from '../helpers/cli.js';
import { testDeps } from '../helpers/deps.js';
import { testOpenStack } from '../helpers/openstack.js';
import { onTeardown } from '../helpers/teardown.js';
import { testClient, testTemporal } from '../helpers/temporal.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { startTestWorker } from '../helpers/worker.js';
import { untilCancelled } from '../workflows/fakes.js';

const run = promisify(execFile);
const docs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs');
const KINDS = { convertImage: 'convert', vmImage: 'from-vm', windowsImage: 'windows' } as const;

interface WorkflowMetadata {
  currentDetails?: string;
  definition?: { queryDefinitions?: Array<{ name: string; description?: string }> };
}

test('current details show state, step, attempt, the transfer bar and sysprep outcomes', () => {
  const text = renderDetails({
    kind: 'windows',
    state: 'running',
    step: 'export + upload',
    attempt: 2,
    bytesDone: 5 * 1048576,
    bytesTotal: 20 * 1048576,
    sysprepAttempts: [{ attempt: 1, outcome: 'failed', failureType: 'SysprepAppx', remedy: 'remove-appx' }],
    steps: [{ step: 'create VM', status: 'done', attempt: 1 }],
  });
  assert.match(text, /^\*\*running\*\* — step \*\*export \+ upload\*\* \(attempt 2\)/);
  assert.match(text, /`█{5}░{15}` 25\.0% \(5\.0 \/ 20\.0 MiB\)/);
  assert.match(text, /sysprep: #1 failed \(SysprepAppx\) after remove-appx/);
});

describe('the Web UI as a console', () => {
  let client: Client;
  let env: Record<string, string>;
  let dir: string;
  let cloudName: string;

  before(async () => {
    const [target, openstack] = await Promise.all([testTemporal(), testOpenStack()]);
    dir = await tempDir({ after: onTeardown }, 'xenimage-console-');
    const worker = await startTestWorker(target, 'console', { cloudsFile: openstack.cloudsFile, sourceDirs: [dir] });
    client = await testClient(target);
    cloudName = openstack.cloud;
    env = {
      TEMPORAL_ADDRESS: target.address,
      XENIMAGE_TASK_QUEUE: worker.taskQueue,
      OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
    };
  });

  test('a CLI build: static summary and details, a summary per activity naming its step, final details, described query', async () => {
    const disk = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const file = path.join(dir, 'convert.json');
    const input = {
      source: { path: disk },
      image: { name: 'console-test' },
      vmMode: 'hvm',
      osType: 'linux',
      cloud: cloudName,
    };
    await writeFile(file, JSON.stringify(input));
    const id = `console-${randomUUID().slice(0, 8)}`;
    const built = await runCli(['build', 'convert', file, '--wait', '--id', id], env);
    assert.equal(built.code, 0, built.stderr);
    const imageId = (JSON.parse(built.stdout.trim().split('\n')[1]!) as { imageId: string }).imageId;
    onTeardown(async () => {
      const cloud = (await testOpenStack()).open();
      await cloud.glance.deleteImage(imageId);
    });

    const handle = client.workflow.getHandle(id);
    const described = await handle.describe();
    assert.equal(await described.staticSummary(), 'convert build of console-test');
    const details = (await described.staticDetails()) ?? '';
    assert.match(details, /\| kind \| convert \(`convertImage`\) \|/);
    assert.match(details, new RegExp(`\\| source \\| ${disk.replace(/[/.]/g, '\\$&')} \\|`));

    const summaries: string[] = [];
    for (const event of (await handle.fetchHistory()).events ?? []) {
      if (!event.activityTaskScheduledEventAttributes) continue;
      const data = event.userMetadata?.summary?.data;
      assert.ok(data, `activity ${event.activityTaskScheduledEventAttributes.activityType?.name} has a summary`);
      summaries.push(JSON.parse(Buffer.from(data).toString('utf8')) as string);
    }
    assert.deepEqual(summaries, [
      'inspect: inspectSource',
      'check cloud: checkCloud',
      'convert and upload: convertToGlance',
      'verify: verifyImage',
    ]);

    const metadata = await handle.query<WorkflowMetadata>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', /^\*\*succeeded\*\* — step \*\*verify\*\*/);
    assert.match(metadata.currentDetails ?? '', /4 of 4 steps done/);
    const progressQuery = metadata.definition?.queryDefinitions?.find((q) => q.name === 'progress');
    assert.match(progressQuery?.description ?? '', /steps with start\/end times/);
  });

  test('the Start Workflow JSON of the operator guide: the samples, valid, and started on the polled xenimage queue', async (t) => {
    const guide = await readFile(path.join(docs, 'operator-guide.md'), 'utf8');
    const blocks = [
      ...guide.matchAll(/\*\*(convertImage|vmImage|windowsImage)\*\* input \([^)]*\):\n\n```json\n([\s\S]*?)\n```/g),
    ];
    assert.deepEqual(
      blocks.map((b) => b[1]),
      ['convertImage', 'vmImage', 'windowsImage'],
    );

    // A worker on the documented queue whose activities wait: the builds pass validation and schedule their first
    // activity, and touch nothing (the samples name real clouds and URLs).
    const target = await testTemporal();
    const deps = testDeps({ stateDir: dir });
    const names = Object.keys(createActivities(deps));
    await deps.close();
    const waiting = Object.fromEntries(names.map((n) => [n, untilCancelled]));
    await startTestWorker(target, 'ui', { taskQueue: 'xenimage', activities: waiting });
    // The form's check: DescribeTaskQueue lists a poller (a worker shows up there with its first poll).
    await waitFor('a worker polling the xenimage queue, as the UI checks', async () => {
      const queue = await client.workflowService.describeTaskQueue({
        namespace: target.namespace,
        taskQueue: { name: 'xenimage' },
        taskQueueType: 1,
      });
      return (queue.pollers?.length ?? 0) > 0;
    });

    for (const [, workflowType, json] of blocks) {
      const kind = KINDS[workflowType as keyof typeof KINDS];
      const sample = await readFile(path.join(docs, 'inputs', `${kind}.sample.json`), 'utf8');
      const input = JSON.parse(json!) as unknown;
      assert.deepEqual(input, JSON.parse(sample), `${workflowType}: the guide shows the sample`);
      const parsed = parseInput(BUILD_SCHEMAS[kind], input);
      assert.ok(parsed.ok, `${workflowType}: ${parsed.ok ? '' : parsed.message}`);

      const handle = await client.workflow.start(workflowType!, {
        taskQueue: 'xenimage',
        workflowId: `ui-${kind}-${randomUUID().slice(0, 8)}`,
        args: [input],
      });
      t.after(() => handle.terminate('test over').catch(() => undefined));
      const p = await waitFor(`${workflowType} past validation`, async () => {
        const progress = await handle.query<BuildProgress>('progress').catch(() => undefined);
        return progress && progress.steps.length > 0 ? progress : undefined;
      });
      assert.equal(p.state, 'running');
    }
  });
});
