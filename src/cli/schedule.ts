// `xenimage schedule …`: golden images rebuilt by Temporal Schedules. A schedule starts a build of one kind with
// one input (validated here first), never overlapping a running build (SKIP), with an explicit catch-up window
// (the server's default is a year), in UTC unless told otherwise (local 02:00 is skipped or doubled at DST).
import type { Command } from 'commander';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { InvalidInputError } from '../errors.js';
import { BUILD_KINDS, type BuildKind } from './buildKinds.js';
import { readInputFile, validateBuildInput } from './build.js';
import { cliContext, temporalClient } from './context.js';

const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

async function withClient<T>(fn: (client: Client, ctx: ReturnType<typeof cliContext>) => Promise<T>): Promise<T> {
  const ctx = cliContext();
  const client = await temporalClient(ctx);
  try {
    return await fn(client, ctx);
  } finally {
    await client.connection.close();
  }
}

export function registerScheduleCommand(program: Command): void {
  const schedule = program.command('schedule').description('golden-image rebuilds on a schedule (Temporal Schedules)');

  schedule
    .command('create')
    .description('create a schedule that starts a build of <kind> with <input.json>')
    .argument('<name>', 'schedule ID (builds get workflow IDs golden-<name>-<time>)')
    .argument('<kind>', Object.keys(BUILD_KINDS).join(' | '))
    .argument('<input.json>', 'the build input')
    .option('--cron <expr>', 'cron expression, e.g. "0 3 * * SUN"')
    .option('--every <duration>', 'interval, e.g. 7d or 12h')
    .option('--timezone <tz>', 'IANA time zone of the cron expression', 'UTC')
    .option('--overlap <policy>', 'skip | buffer-one | allow-all', 'skip')
    .option('--catchup <duration>', 'how late a missed run may still start', '6h')
    .option('--paused', 'create it paused')
    .action(
      async (
        name: string,
        kindName: string,
        file: string,
        opts: { cron?: string; every?: string; timezone: string; overlap: string; catchup: string; paused?: boolean },
      ) => {
        const kind = (BUILD_KINDS as Record<string, BuildKind>)[kindName];
        if (!kind)
          throw new InvalidInputError(`unknown kind "${kindName}": one of ${Object.keys(BUILD_KINDS).join(', ')}`);
        if (Boolean(opts.cron) === Boolean(opts.every))
          throw new InvalidInputError('give exactly one of --cron or --every');
        const overlap = OVERLAP[opts.overlap];
        if (overlap === undefined)
          throw new InvalidInputError(`--overlap must be one of ${Object.keys(OVERLAP).join(', ')}`);
        const input = await readInputFile(file);
        validateBuildInput(kind, input);
        await withClient(async (client, ctx) => {
          await client.schedule.create({
            scheduleId: name,
            spec: opts.cron
              ? { cronExpressions: [opts.cron], timezone: opts.timezone }
              : { intervals: [{ every: opts.every as '1d' }] },
            action: {
              type: 'startWorkflow',
              workflowType: kind.workflowType,
              taskQueue: ctx.config.temporal.taskQueue,
              workflowId: `golden-${name}`,
              args: [input],
            },
            policies: { overlap, catchupWindow: opts.catchup as '6h' },
            state: { paused: Boolean(opts.paused), note: `created by xenimage schedule create (${kind.name})` },
          });
          console.log(`schedule ${name} created`);
        });
      },
    );

  schedule
    .command('list')
    .description('list schedules')
    .action(async () =>
      withClient(async (client) => {
        for await (const s of client.schedule.list()) {
          const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
          const action = s.action?.type === 'startWorkflow' ? s.action.workflowType : '?';
          console.log(
            `${s.scheduleId.padEnd(24)} ${action.padEnd(14)} ${s.state.paused ? 'paused ' : 'active '} next ${next}`,
          );
        }
      }),
    );

  const simple = (
    verb: string,
    description: string,
    run: (handle: ReturnType<Client['schedule']['getHandle']>) => Promise<void>,
  ) =>
    schedule
      .command(verb)
      .description(description)
      .argument('<name>', 'schedule ID')
      .action(async (name: string) =>
        withClient(async (client) => {
          await run(client.schedule.getHandle(name));
          console.log(`schedule ${name}: ${verb} done`);
        }),
      );
  simple('pause', 'pause a schedule', (h) => h.pause('paused with xenimage schedule pause'));
  simple('unpause', 'resume a schedule', (h) => h.unpause('resumed with xenimage schedule unpause'));
  simple('trigger', 'start a build now (skipped if one is running)', (h) => h.trigger(ScheduleOverlapPolicy.SKIP));
  simple('delete', 'delete a schedule (running builds go on)', (h) => h.delete());
}
