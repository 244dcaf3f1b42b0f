#!/usr/bin/env node
// The `xenimage` command. Only commander and the commands' definitions load here: each command imports what it
// runs inside its action, so `xenimage --help` and every command start without Temporal, zod or the lab
// (test/cli/lazyLoading.test.ts checks it).
import { Command } from 'commander';
import { registerBuildCommand } from './build.js';
import { registerConvertCommand } from './convert.js';
import { delegateCommand, installHelpCommand } from './delegate.js';
import { registerHistoryCommand } from './history.js';
import { registerScheduleCommand } from './schedule.js';
import { registerSchemaCommand } from './schema.js';
import { registerSetupCommand } from './setup.js';
import { registerUpCommand } from './up.js';
import { registerWorkflowCommands } from './workflows.js';

// Operators get one line per problem, not the deprecation notices of the libraries underneath.
process.noDeprecation = true;

const program = new Command('xenimage')
  .description('prepare XenServer / XCP-ng VM images for OpenStack, as Temporal workflows')
  .showHelpAfterError();

registerUpCommand(program);
// lab.ts and worker.ts define their commands beside what they run: they load only when named.
delegateCommand(program, {
  name: 'lab',
  description:
    'start the embedded services (Temporal, Keystone + Glance, the XenServer lab); print one JSON line when ready',
  load: async () => (await import('./lab.js')).registerLabCommand,
});
registerSetupCommand(program);
delegateCommand(program, {
  name: 'worker',
  description: 'run a worker on the configured task queue (and one per --pool on xen-<pool>)',
  load: async () => (await import('./worker.js')).registerWorkerCommand,
});
registerWorkflowCommands(program);
registerBuildCommand(program);
registerSchemaCommand(program);
registerConvertCommand(program);
registerHistoryCommand(program);
registerScheduleCommand(program);
installHelpCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const { describeError } = await import('./errorReport.js');
  const { type, message, exitCode } = describeError(err);
  // One line an operator can act on.
  process.stderr.write(`xenimage: ${type ? `${type}: ` : ''}${message}\n`);
  process.exitCode = exitCode;
}
