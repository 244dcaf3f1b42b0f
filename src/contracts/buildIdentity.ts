// A build's identity: its workflow ID and the run ID of its first execution. Everything a build makes is tagged
// with it (XAPI other_config['xenimage-build'], the Glance tag `xenimage-build:<identity>`), and its generated
// secrets are derived from it, so a new run under a reused workflow ID never finds, reuses or deletes what an
// earlier run made, while retries and continue-as-new of one run keep it (docs/decisions/builds-0001-build-identity.md).

/** Glance tags hold at most 255 characters, `xenimage-build:` included. */
export const MAX_BUILD_IDENTITY = 240;

/** `<workflow ID>@<first execution run ID>`. */
export function buildIdentity(workflowId: string, firstExecutionRunId: string): string {
  return `${workflowId}@${firstExecutionRunId}`;
}

/** Why a workflow ID cannot carry a build identity, or undefined when it can. */
export function buildIdentityProblem(workflowId: string, firstExecutionRunId: string): string | undefined {
  const length = buildIdentity(workflowId, firstExecutionRunId).length;
  if (length > MAX_BUILD_IDENTITY)
    return `the workflow ID is too long to tag what the build makes (${workflowId.length} characters; at most ${MAX_BUILD_IDENTITY - firstExecutionRunId.length - 1})`;
  return undefined;
}
