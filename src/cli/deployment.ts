// `xenimage deployment …`: the rollout of a new worker release with Worker Versioning (src/cli/actions/deployment.ts).
// Workers started with `--deployment NAME --build-id ID` form versions of a deployment; builds start on its current
// version (or, for a ramp's share, the ramping one) and stay pinned to it until they end, so a version's workers are
// stopped only once it is drained (docs/decisions/builds-0005-worker-versioning.md).
import type { Command } from 'commander';

export function registerDeploymentCommand(program: Command): void {
  const deployment = program
    .command('deployment')
    .description('worker deployments: which release new builds start on, and which releases still run builds');
  const actions = () => import('./actions/deployment.js');

  deployment
    .command('list')
    .description('list the worker deployments of the namespace')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => (await actions()).listDeploymentsCommand(opts));

  deployment
    .command('describe')
    .description(
      'a deployment: the current and ramping version, and per version its status, running builds and task queues',
    )
    .argument('<name>', 'deployment name (as given to xenimage worker --deployment)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => (await actions()).describeDeploymentCommand(name, opts));

  deployment
    .command('set-current')
    .description('start every new build on this version (running builds stay on theirs)')
    .argument('<name>', 'deployment name')
    .argument('[build-id]', 'the version (as given to xenimage worker --build-id)')
    .option('--unversioned', 'start new builds on the workers run without --deployment instead')
    .option(
      '--ignore-missing-task-queues',
      'set it although a task queue the current version polls has no poller of this version (a pool taken out of service)',
    )
    .action(
      async (
        name: string,
        buildId: string | undefined,
        opts: { unversioned?: boolean; ignoreMissingTaskQueues?: boolean },
      ) => (await actions()).setCurrentCommand(name, buildId, opts),
    );

  deployment
    .command('ramp')
    .description('start a share of new builds on this version, the rest on the current one (--stop ends the ramp)')
    .argument('<name>', 'deployment name')
    .argument('[build-id]', 'the version to ramp to')
    .argument('[percent]', 'share of new builds, 0 to 100')
    .option('--stop', 'end the ramp: every new build starts on the current version again')
    .option('--ignore-missing-task-queues', 'as for set-current')
    .action(
      async (
        name: string,
        buildId: string | undefined,
        percent: string | undefined,
        opts: { stop?: boolean; ignoreMissingTaskQueues?: boolean },
      ) => (await actions()).rampCommand(name, buildId, percent, opts),
    );
}
