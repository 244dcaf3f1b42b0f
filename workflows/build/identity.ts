// The build identity of the running workflow (src/contracts/buildIdentity.ts): what every activity that makes,
// finds or removes something is given, so a new run under a reused workflow ID never touches an earlier run's work.
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { buildIdentity, buildIdentityProblem } from '../../src/contracts/buildIdentity.js';

export function currentBuildIdentity(): string {
  const { workflowId, firstExecutionRunId } = workflowInfo();
  const problem = buildIdentityProblem(workflowId, firstExecutionRunId);
  if (problem) throw ApplicationFailure.nonRetryable(`invalid input: ${problem}`, 'InvalidInput');
  return buildIdentity(workflowId, firstExecutionRunId);
}
