// Commands that look at or act on builds: status, list, logs, cancel, the operator's answers to a build that waits
// after a failed sysprep (retry-sysprep, abandon), and check (a worker round trip). They run in
// src/cli/actions/workflows.ts.
import type { Command } from 'commander';
import type { ListOptions } from './actions/workflows.js';
import { BUILD_KIND_NAMES } from './buildKinds.js';

export function registerWorkflowCommands(program: Command): void {
  const actions = () => import('./actions/workflows.js');

  program
    .command('status')
    .description('show a build: its steps with durations, the current step, attempt and transfer progress, the result')
    .argument('<id>', 'workflow ID')
    .option('--watch', 'follow the build until it ends (exit code 1 unless it completed)')
    .option('--json', 'print JSON (with --watch: one line per change)')
    .action(async (id: string, opts: { json?: boolean; watch?: boolean }) => (await actions()).showStatus(id, opts));

  program
    .command('list')
    .description('list builds (newest first)')
    .option('--running', 'only builds that are running')
    .option('--image <name>', 'only builds of this image name')
    .option('--kind <kind>', `only builds of this kind: ${BUILD_KIND_NAMES.join(' | ')}`)
    .option(
      '--query <visibility query>',
      'a Temporal list filter (combined with the options above)',
      'XenimageKind IS NOT NULL',
    )
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'print JSON lines')
    .action(async (opts: ListOptions) => (await actions()).listBuilds(opts));

  program
    .command('logs')
    .description('print the guest logs a build collected (Panther, setupact, cloudbase-init, the PV tools log)')
    .argument('<id>', 'workflow ID')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => (await actions()).showLogs(id, opts));

  program
    .command('cancel')
    .description('cancel a build; its cleanup still runs')
    .argument('<id>', 'workflow ID')
    .action(async (id: string) => (await actions()).cancelBuild(id));

  program
    .command('retry-sysprep')
    .description('retry the sysprep of a build that waits for the operator (state awaiting-operator)')
    .argument('<id>', 'workflow ID')
    .option(
      '--remedy <name>',
      'apply this first: remove-appx, reboot, none, or script:NAME (<stateDir>/remedies/NAME.ps1 on the worker)',
    )
    .option('--note <text>', 'why, for the history (no secrets)')
    .action(async (id: string, opts: { remedy?: string; note?: string }) => (await actions()).retrySysprep(id, opts));

  program
    .command('abandon')
    .description('give up a build that waits for the operator; its cleanup runs unless keepOnFailure was set')
    .argument('<id>', 'workflow ID')
    .option('--reason <text>', 'why, for the failure message (no secrets)')
    .action(async (id: string, opts: { reason?: string }) => (await actions()).abandonBuild(id, opts));

  program
    .command('check')
    .description(
      "round trip to a worker: run the selfCheck workflow on the task queue and print the worker host's tools",
    )
    .option('--timeout <seconds>', 'how long to wait for a worker to take it', '60')
    .option('--json', 'print JSON')
    .action(async (opts: { timeout: string; json?: boolean }) => (await actions()).checkWorker(opts));
}
