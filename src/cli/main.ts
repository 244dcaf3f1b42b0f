#!/usr/bin/env node
// The `xenimage` command: the command tree of program.ts, and one line per failure.
import { buildProgram } from './program.js';

// Operators get one line per problem, not the deprecation notices of the libraries underneath.
process.noDeprecation = true;

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  const { describeError } = await import('./errorReport.js');
  const { type, message, exitCode } = describeError(err);
  process.stderr.write(`xenimage: ${type ? `${type}: ` : ''}${message}\n`);
  process.exitCode = exitCode;
}
