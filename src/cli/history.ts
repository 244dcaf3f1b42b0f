// `xenimage history ID [--out FILE]`: a build's event history as JSON (the form Temporal's replayer and
// `temporal workflow show -o json` use), for replay tests and bug reports. Payloads stay encoded; they hold
// secret references only, never values.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { cliContext, temporalClient } from './context.js';

export function registerHistoryCommand(program: Command): void {
  program
    .command('history')
    .description("print (or save) a build's event history as JSON")
    .argument('<id>', 'workflow ID')
    .option('--out <file>', 'write to this file')
    .action(async (id: string, opts: { out?: string }) => {
      const ctx = cliContext();
      const client = await temporalClient(ctx);
      try {
        const history = await client.workflow.getHandle(id).fetchHistory();
        const text = JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n';
        if (opts.out) await writeFile(opts.out, text);
        else process.stdout.write(text);
      } finally {
        await client.connection.close();
      }
    });
}
