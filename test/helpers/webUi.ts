// The Temporal Web UI as an operator uses it, driven by Playwright (playwright-core) in Debian's Chromium: the Start
// Workflow form, a workflow's page, its Queries tab and the filtered workflow list. Pages are read by their visible
// text and the form fields' test IDs, as a person finds them.
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { onTeardown } from './teardown.js';
import { waitFor } from './waitFor.js';

/** Debian's Chromium (`.ci/run` installs it); a missing browser fails the test instead of skipping it. */
function chromiumPath(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error('no Chromium on this machine: install Debian\'s "chromium" package (.ci/run does)');
}

export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    // As root in a container: Chromium's sandbox needs user namespaces that CI machines may not grant.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  onTeardown(() => browser.close());
  return browser;
}

/**
 * Opens a UI page and waits for an element that shows it has rendered. Not `networkidle`: a running workflow's page
 * keeps polling, so the network need never go quiet.
 */
async function openUiPage(page: Page, url: string, ready: (page: Page) => Locator): Promise<void> {
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await ready(page).first().waitFor({ timeout: 30_000 });
}

/** A workflow's own page has rendered once it names the workflow. */
const namesWorkflow = (workflowId: string) => (p: Page) => p.locator('main').getByText(workflowId);

export interface StartForm {
  workflowId: string;
  taskQueue: string;
  workflowType: string;
  input: unknown;
}

/** Fills the Start Workflow form and submits it; resolves once the UI's start request has been answered 200. */
export async function startThroughForm(page: Page, ui: string, form: StartForm): Promise<void> {
  await openUiPage(page, `${ui}/namespaces/default/workflows/start-workflow`, (p) => p.getByTestId('workflowId'));
  await page.getByTestId('workflowId').fill(form.workflowId);
  await page.getByTestId('taskQueue').fill(form.taskQueue);
  await page.getByTestId('workflowType').fill(form.workflowType);
  // Once the task queue field is left, the form asks Temporal for its pollers.
  await page.getByText('Task Queue is Active').waitFor({ timeout: 30_000 });
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await page.keyboard.insertText(JSON.stringify(form.input, null, 2));
  // The editor hands its text to the form when it loses focus.
  await page.getByText('Input', { exact: true }).click();
  const started = page.waitForResponse(
    (r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${encodeURIComponent(form.workflowId)}`),
    { timeout: 30_000 },
  );
  await page.getByRole('button', { name: 'Start Workflow' }).click();
  const response = await started;
  if (response.status() !== 200) {
    throw new Error(`the UI's start request answered ${response.status()}: ${await response.text()}`);
  }
}

/** The status badge of a workflow's page (Running, Completed, Failed…), polled until `expected` or the deadline. */
export async function waitForStatus(page: Page, ui: string, workflowId: string, expected: string, ms = 300_000) {
  await waitFor(
    `the UI to show ${workflowId} as ${expected}`,
    async () => {
      await openUiPage(
        page,
        `${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
        namesWorkflow(workflowId),
      );
      const status = (await page.locator('main').innerText()).match(
        /\b(Running|Completed|Failed|Canceled|Terminated|TimedOut|Timed Out|ContinuedAsNew)\b/,
      )?.[1];
      if (status && status !== 'Running' && status !== expected) {
        throw new Error(`${workflowId} ended ${status} in the UI, expected ${expected}`);
      }
      return status === expected;
    },
    ms,
    1000,
  );
}

/** Runs a query from the workflow's Queries tab and returns the answer the UI shows, parsed. */
export async function queryThroughUi(page: Page, ui: string, workflowId: string, query: string): Promise<unknown> {
  await openUiPage(
    page,
    `${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
    namesWorkflow(workflowId),
  );
  await page.getByText('Queries', { exact: true }).first().click();
  await page.getByText('Query Type').waitFor();
  const select = page.getByRole('combobox').filter({ hasText: '' }).first();
  if ((await page.getByText(query, { exact: true }).count()) === 0) {
    await select.click();
    await page.getByRole('option', { name: query }).click();
  }
  const answered = page.waitForResponse((r) => r.url().includes('/query/'), { timeout: 30_000 });
  await page.getByRole('button', { name: 'Run Query' }).click();
  const response = await answered;
  if (response.status() !== 200) throw new Error(`the UI's query answered ${response.status()}`);
  // The answer as the page shows it: the code viewer beside the form (CodeMirror renders only the lines in view,
  // so the whole text is read from the viewer's document rather than from the DOM).
  const shown = await waitFor('the query answer on the page', async () => {
    const texts = await page
      .locator('main .cm-content')
      .evaluateAll((els) =>
        els.map(
          (el) =>
            (
              el as unknown as { cmView?: { view?: { state: { doc: { toString(): string } } } } }
            ).cmView?.view?.state.doc.toString() ?? '',
        ),
      );
    return texts.map((t) => t.trim()).find((t) => t.startsWith('{'));
  });
  return JSON.parse(shown);
}

/**
 * The text of the workflow list for a list filter (the query the UI's filter bar writes), once the list shows
 * `expectedId`.
 */
export async function listThroughUi(page: Page, ui: string, query: string, expectedId: string): Promise<string> {
  await openUiPage(
    page,
    `${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`,
    namesWorkflow(expectedId),
  );
  return page.locator('main').innerText();
}

/**
 * Sends an update from the workflow page's More Actions → Send an Update dialog; resolves with the UI's update
 * response once it has been answered (the status is the caller's to check: a refused update is an answer too).
 */
export async function updateThroughUi(
  page: Page,
  ui: string,
  workflowId: string,
  update: string,
  arg: unknown,
  beforeSubmit?: () => Promise<void>,
): Promise<{ status: number; body: string }> {
  await openUiPage(
    page,
    `${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
    namesWorkflow(workflowId),
  );
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: 'Send an Update' }).click();
  const dialog = page.locator('dialog[open]').filter({ hasText: 'Send an Update' });
  await dialog.waitFor();
  await dialog.getByTestId('update-select-button').click();
  await page.getByRole('option', { name: new RegExp(`^\\s*${update}\\b`) }).click();
  await dialog.locator('.cm-content').first().click();
  await page.keyboard.insertText(JSON.stringify(arg));
  await dialog.getByText('Data', { exact: true }).click();
  await beforeSubmit?.();
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/update/`), {
    timeout: 120_000,
  });
  await dialog.getByTestId('confirm-modal-button').click();
  const response = await answered;
  return { status: response.status(), body: await response.text() };
}
