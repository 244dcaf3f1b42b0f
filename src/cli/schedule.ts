// `xenimage schedule …`: golden images rebuilt by Temporal Schedules (src/cli/actions/schedule.ts). A schedule
// starts a goldenImage workflow: a build of one kind with one input (validated here first) under a stable image
// name, then the rotation of the series (docs/decisions/builds-0004-golden-image-rotation.md); never overlapping
// a running build (SKIP), with an explicit catch-up window (the server's default is a year), in UTC unless told
// otherwise (a local time in a DST gap or repeat is warned about).
import type { Command } from 'commander';
import { BUILD_KIND_NAMES } from './buildKinds.js';
import { OVERLAP_POLICIES, RETIRE_NAMES, type ScheduleCreateOptions } from './scheduleOptions.js';

export function registerScheduleCommand(program: Command): void {
  const schedule = program.command('schedule').description('golden-image rebuilds on a schedule (Temporal Schedules)');
  const actions = () => import('./actions/schedule.js');

  schedule
    .command('create')
    .description('create a schedule that starts a build of <kind> with <input.json>')
    .argument('<name>', 'schedule ID and golden series name (runs get workflow IDs golden-<name>-<time>)')
    .argument('<kind>', BUILD_KIND_NAMES.join(' | '))
    .argument('<input.json>', 'the build input')
    .option('--cron <expr>', 'cron expression, e.g. "0 3 * * SUN"')
    .option('--every <duration>', 'interval, e.g. 7d or 12h')
    .option('--timezone <tz>', 'IANA time zone of the cron expression', 'UTC')
    .option('--overlap <policy>', OVERLAP_POLICIES.join(' | '), 'skip')
    .option('--catchup <duration>', 'how late a missed run may still start', '6h')
    .option('--keep <n>', 'verified images of the series that stay in service (the newest is current)', '2')
    .option('--retire <policy>', `what happens to older images: ${RETIRE_NAMES.join(' | ')}`, 'hide')
    .option('--image-name <pattern>', 'the image name: {name} is the schedule name, {date} the run date', '{name}')
    .option('--paused', 'create it paused')
    .action(async (name: string, kind: string, file: string, opts: ScheduleCreateOptions) =>
      (await actions()).createSchedule(name, kind, file, opts),
    );

  schedule
    .command('list')
    .description('list schedules')
    .action(async () => (await actions()).listSchedules());

  schedule
    .command('describe')
    .description('a schedule: its spec, next runs, recent runs and their outcome, the current image of its series')
    .argument('<name>', 'schedule ID')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => (await actions()).describeSchedule(name, opts));

  const simple = (verb: 'pause' | 'unpause' | 'trigger' | 'delete', description: string) =>
    schedule
      .command(verb)
      .description(description)
      .argument('<name>', 'schedule ID')
      .action(async (name: string) => (await actions()).changeSchedule(verb, name));
  simple('pause', 'pause a schedule');
  simple('unpause', 'resume a schedule');
  simple('trigger', 'start a build now (skipped if one is running)');
  simple('delete', 'delete a schedule (running builds go on)');
}
