// The Temporal Web UI as the operators' console, in a real browser (Debian's Chromium through playwright-core):
// a convert build and a Windows build started from the Start Workflow form, the builds' list filtered by
// XenimageImage, a running build's step and progress read from the Queries tab, a build waiting for its operator
// answered and the UI showing the answer, both builds completed. Screenshots of the key pages go to
// XENIMAGE_SCREENSHOTS_DIR when set (docs/operator-guide.md shows the ones in docs/screenshots/).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import type { BuildProgress } from '../../src/contracts/messages.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { buildVm, identityOf, imagesOfBuild, labConnection, windowsInput } from '../helpers/builds.js';
import { testTemporalUi } from '../helpers/temporal.js';
import { waitFor } from '../helpers/waitFor.js';
import {
  launchBrowser,
  listThroughUi,
  queryThroughUi,
  startThroughForm,
  updateThroughUi,
  waitForStatus,
} from '../helpers/webUi.js';

const run = promisify(execFile);

describe('the Temporal Web UI as the console', () => {
  let lab: BuildLab;
  let conn: XapiConnection;
  let ui: string;
  let page: Page;
  let qcow2: string;
  const screenshots = process.env.XENIMAGE_SCREENSHOTS_DIR;

  async function shot(name: string): Promise<void> {
    if (!screenshots) return;
    await mkdir(screenshots, { recursive: true });
    await page.screenshot({ path: path.join(screenshots, `${name}.png`) });
  }

  before(async () => {
    lab = await startBuildLab();
    ui = await testTemporalUi();
    conn = await labConnection(lab);
    const browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // A source where operators keep them: the state folder's sources/.
    await mkdir(path.join(lab.dir, 'sources'), { recursive: true });
    qcow2 = path.join(lab.dir, 'sources', 'ui-source.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, String(64 * 1024 * 1024)]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 4M', '-c', 'write -P 0xa5 40M 1M', qcow2]);
  });

  test('a convert build and a Windows build from the Start Workflow form, watched, filtered, answered, completed', async () => {
    const suffix = randomUUID().slice(0, 8);
    const convertId = `ui-convert-${suffix}`;
    const convertImage = `ui-convert-image-${suffix}`;
    await startThroughForm(page, ui, {
      workflowId: convertId,
      taskQueue: lab.taskQueue,
      workflowType: 'convertImage',
      input: {
        source: { path: qcow2 },
        image: { name: convertImage, properties: { os_distro: 'debian' } },
        vmMode: 'hvm',
        osType: 'linux',
        cloud: lab.openstack.cloud,
      },
    });
    await shot('start-workflow-form');

    // The Windows build's sysprep hangs once: an unknown failure, so it waits for its operator.
    const windowsId = `ui-windows-${suffix}`;
    const windowsImage = `ui-windows-image-${suffix}`;
    const input = await windowsInput(lab, windowsImage, {
      timeouts: { install: '3h', sysprep: '4s', halt: '1h', shutdown: '10m' },
    });
    await startThroughForm(page, ui, {
      workflowId: windowsId,
      taskQueue: lab.taskQueue,
      workflowType: 'windowsImage',
      input,
    });
    const windows = lab.client.workflow.getHandle(windowsId);
    const { runId } = await windows.describe();
    lab.guests.inject({
      kind: 'sysprep-hang',
      vm: await buildVm(conn, identityOf({ workflowId: windowsId, firstExecutionRunId: runId })),
      times: 1,
    });

    // The running build's step and progress, from its Queries tab.
    const running = (await queryThroughUi(page, ui, windowsId, 'progress')) as BuildProgress;
    assert.equal(running.kind, 'windows');
    assert.ok(running.step && running.attempt >= 1, `a current step and attempt: ${running.step} #${running.attempt}`);
    assert.ok(running.steps.length > 0, 'the progress lists the steps done and under way');
    assert.ok(running.state === 'running' || running.state === 'awaiting-operator', `state ${running.state}`);
    await shot('running-build-progress-query');

    // Waiting for the operator: the list filtered by XenimageStep finds it, the Queries tab says why.
    await waitFor(
      'the Windows build to wait for its operator',
      async () => ((await windows.query('progress')) as BuildProgress).state === 'awaiting-operator',
      300_000,
      500,
    );
    const waitingList = await listThroughUi(page, ui, 'XenimageStep = "awaiting-operator"', windowsId);
    assert.match(waitingList, new RegExp(windowsId));
    assert.doesNotMatch(waitingList, new RegExp(convertId));
    await shot('awaiting-operator-list');
    const waiting = (await queryThroughUi(page, ui, windowsId, 'progress')) as BuildProgress;
    assert.equal(waiting.state, 'awaiting-operator');
    assert.match(waiting.waitingFor ?? '', /SysprepHung/);

    // The answer, from the UI's Send an Update dialog (which lists the build's updates with their descriptions).
    const answer = await updateThroughUi(
      page,
      ui,
      windowsId,
      'retrySysprep',
      { remedy: 'none', note: 'closed by hand' },
      () => shot('operator-answer-dialog'),
    );
    assert.equal(answer.status, 200, answer.body);
    await waitFor(
      'the UI to show the accepted update in the history',
      async () => {
        await page.goto(`${ui}/namespaces/default/workflows/${windowsId}/${runId}/history`, {
          waitUntil: 'domcontentloaded',
        });
        await page.locator('main').getByText(windowsId).first().waitFor({ timeout: 30_000 });
        return /Update ?Accepted/i.test(await page.locator('main').innerText());
      },
      60_000,
      1000,
    );
    await shot('operator-answer-in-history');

    // Both complete, as the UI shows them, with their images in Glance.
    await waitForStatus(page, ui, convertId, 'Completed');
    await waitForStatus(page, ui, windowsId, 'Completed');
    await shot('completed-windows-build');
    const cloud = lab.openstack.open();
    assert.equal(
      (await imagesOfBuild(cloud, identityOf({ workflowId: windowsId, firstExecutionRunId: runId }))).length,
      1,
    );

    // The list filtered by the image's name shows that build alone.
    const byImage = await listThroughUi(page, ui, `XenimageImage = "${convertImage}"`, convertId);
    assert.match(byImage, new RegExp(convertId));
    assert.doesNotMatch(byImage, new RegExp(windowsId));
    await shot('list-filtered-by-image');
  });
});
