// `xenimage up` (= `npm start`): the embedded services, a worker, and the sample builds; serves until Ctrl-C,
// or exits after the samples with --once (non-zero if one failed). Runs in src/cli/actions/up.ts.
import type { Command } from 'commander';
import type { UpOptions } from './actions/up.js';

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'start Temporal, Keystone + Glance, the lab and a worker; run the sample builds; serve until Ctrl-C (as root on Debian/Ubuntu, missing system packages are installed first)',
    )
    .option('--once', 'exit when the sample builds end (non-zero if one failed)')
    .option('--no-samples', 'start everything but run no sample build')
    .option(
      '--scenario <name|file>',
      'lab scenario: demo, or e.g. sysprep-appx (an AppX package the pre-sysprep checks remove)',
      'demo',
    )
    .option('--fresh', "start the XenServer lab from an empty pool (deletes the lab's pool, VMs and disks first)")
    .action(async (opts: UpOptions) => {
      const { runUp } = await import('./actions/up.js');
      await runUp(opts);
    });
}
