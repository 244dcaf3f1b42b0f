#!/usr/bin/env node
// The `xenimage` command: the command tree of program.ts, and one line per failure.
import { setFlagsFromString } from 'node:v8';

// Operators get one line per problem, not the deprecation notices of the libraries underneath.
process.noDeprecation = true;

// `convert … DST.vhd` is I/O between pooled buffers: no JavaScript hot enough to repay V8's optimizing compiler,
// whose code and working memory are ~7 MiB of the process's peak (58 instead of 65 MiB, same CPU). Set before
// anything else loads, or it saves less; this process runs nothing else (docs/decisions/disk-0004).
if (process.argv[2] === 'convert' && /\.vhd$/i.test(process.argv[process.argv.length - 1] ?? '')) {
  setFlagsFromString('--no-opt');
}

const { buildProgram } = await import('./program.js');
try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  const { describeError } = await import('./errorReport.js');
  const { type, message, exitCode } = describeError(err);
  process.stderr.write(`xenimage: ${type ? `${type}: ` : ''}${message}\n`);
  process.exitCode = exitCode;
}
