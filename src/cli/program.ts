// The `xenimage` command tree. Only commander and the commands' definitions load here: each command imports
// what it runs inside its action, so `xenimage --help` and every command start without Temporal, zod or the lab
// (test/cli/lazyLoading.test.ts checks it).
import { Command } from 'commander';
import { registerBuildCommand } from './build.js';
import { registerConvertCommand } from './convert.js';
import { delegateCommand, installHelpCommand, type DelegatedCommand } from './delegate.js';
import { registerDeploymentCommand } from './deployment.js';
import { registerHistoryCommand } from './history.js';
import { registerScheduleCommand } from './schedule.js';
import { registerSchemaCommand } from './schema.js';
import { registerSetupCommand } from './setup.js';
import { registerUpCommand } from './up.js';
import { registerWorkflowCommands } from './workflows.js';

/** Commands defined beside what they run (lab.ts, worker.ts): loaded only when named. */
export const DELEGATED_COMMANDS: Record<'lab' | 'worker', DelegatedCommand> = {
  lab: {
    name: 'lab',
    description:
      'start the embedded services (Temporal, Keystone + Glance, the XenServer lab); print one JSON line when ready',
    load: async () => (await import('./lab.js')).registerLabCommand,
  },
  worker: {
    name: 'worker',
    description: 'run a worker on the configured task queue (and one per --pool on xen-<pool>)',
    load: async () => (await import('./worker.js')).registerWorkerCommand,
  },
};

export function buildProgram(): Command {
  const program = new Command('xenimage')
    .description('prepare XenServer / XCP-ng VM images for OpenStack, as Temporal workflows')
    .showHelpAfterError();
  registerUpCommand(program);
  delegateCommand(program, DELEGATED_COMMANDS.lab);
  registerSetupCommand(program);
  delegateCommand(program, DELEGATED_COMMANDS.worker);
  registerWorkflowCommands(program);
  registerBuildCommand(program);
  registerSchemaCommand(program);
  registerConvertCommand(program);
  registerHistoryCommand(program);
  registerScheduleCommand(program);
  registerDeploymentCommand(program);
  installHelpCommand(program);
  return program;
}
