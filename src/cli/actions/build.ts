// `xenimage build <kind> INPUT.json`: validates the input, starts the workflow on the configured task queue,
// and optionally follows it to the end.
import { randomUUID } from 'node:crypto';
import { buildSummary } from '../../contracts/buildSummary.js';
import { BUILD_KINDS, type BuildKindName } from '../buildKinds.js';
import { cliContext, temporalClient } from '../context.js';
import { followBuild } from '../progressView.js';
import { readInputFile, validateBuildInput } from './buildInput.js';

export async function startBuild(kindName: BuildKindName, file: string, opts: { id?: string; wait?: boolean }) {
  const kind = BUILD_KINDS[kindName];
  const ctx = cliContext();
  const input = await readInputFile(file);
  const params = validateBuildInput(kindName, input);
  const summary = buildSummary(kind.workflowType, input);
  const client = await temporalClient(ctx);
  try {
    const workflowId =
      opts.id ?? `${kind.name}-${params.image.name.replace(/[^A-Za-z0-9._-]+/g, '-')}-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start(kind.workflowType, {
      taskQueue: ctx.config.temporal.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      // What the Web UI shows before the build runs (never secrets: src/contracts/buildSummary.ts).
      staticSummary: summary.summary,
      staticDetails: summary.details,
    });
    console.log(JSON.stringify({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }));
    if (opts.wait) {
      const result = await followBuild(handle);
      console.log(JSON.stringify(result));
    }
  } finally {
    await client.connection.close();
  }
}
