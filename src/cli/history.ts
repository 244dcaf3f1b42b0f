// `xenimage history ID [--out FILE]`: a build's event history as JSON (the form Temporal's replayer and
// `temporal workflow show -o json` use), for replay tests and bug reports. Payloads stay encoded; they hold
// secret references only, never values.
import type { Command } from 'commander';

export function registerHistoryCommand(program: Command): void {
  program
    .command('history')
    .description("print (or save) a build's event history as JSON")
    .argument('<id>', 'workflow ID')
    .option('--out <file>', 'write to this file')
    .action(async (id: string, opts: { out?: string }) => {
      const { printHistory } = await import('./actions/history.js');
      await printHistory(id, opts);
    });
}
