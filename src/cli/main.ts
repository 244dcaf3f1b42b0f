#!/usr/bin/env node
// The `xenimage` command.
import { Command } from 'commander';
import { errorMessage, isXenimageError } from '../errors.js';
import { registerBuildCommand } from './build.js';
import { registerConvertCommand } from './convert.js';
import { registerHistoryCommand } from './history.js';
import { registerLabCommand } from './lab.js';
import { registerUpCommand } from './up.js';
import { registerSchemaCommand } from './schema.js';
import { registerScheduleCommand } from './schedule.js';
import { registerSetupCommand } from './setup.js';
import { registerWorkerCommand } from './worker.js';
import { registerWorkflowCommands } from './workflows.js';

const program = new Command('xenimage')
  .description('prepare XenServer / XCP-ng VM images for OpenStack, as Temporal workflows')
  .showHelpAfterError();

registerUpCommand(program);
registerLabCommand(program);
registerSetupCommand(program);
registerWorkerCommand(program);
registerWorkflowCommands(program);
registerBuildCommand(program);
registerSchemaCommand(program);
registerConvertCommand(program);
registerHistoryCommand(program);
registerScheduleCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // One line an operator can act on; details go to the log at debug level.
  const type = isXenimageError(err) ? `${err.type}: ` : '';
  process.stderr.write(`xenimage: ${type}${errorMessage(err)}\n`);
  process.exitCode = isXenimageError(err) && err.type === 'InvalidInput' ? 2 : 1;
}
