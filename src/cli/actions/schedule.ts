// `xenimage schedule …` against Temporal's schedule API.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { InvalidInputError } from '../../errors.js';
import { BUILD_KIND_NAMES, BUILD_KINDS, isBuildKindName } from '../buildKinds.js';
import { cliContext, temporalClient, type CliContext } from '../context.js';
import type { OVERLAP_POLICIES, ScheduleCreateOptions } from '../scheduleOptions.js';
import { readInputFile, validateBuildInput } from './buildInput.js';

const OVERLAP: Record<(typeof OVERLAP_POLICIES)[number], ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

async function withClient<T>(fn: (client: Client, ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = cliContext();
  const client = await temporalClient(ctx);
  try {
    return await fn(client, ctx);
  } finally {
    await client.connection.close();
  }
}

export async function createSchedule(
  name: string,
  kindName: string,
  file: string,
  opts: ScheduleCreateOptions,
): Promise<void> {
  if (!isBuildKindName(kindName))
    throw new InvalidInputError(`unknown kind "${kindName}": one of ${BUILD_KIND_NAMES.join(', ')}`);
  const kind = BUILD_KINDS[kindName];
  if (Boolean(opts.cron) === Boolean(opts.every)) throw new InvalidInputError('give exactly one of --cron or --every');
  const overlap = (OVERLAP as Record<string, ScheduleOverlapPolicy>)[opts.overlap];
  if (overlap === undefined) throw new InvalidInputError(`--overlap must be one of ${Object.keys(OVERLAP).join(', ')}`);
  const input = await readInputFile(file);
  validateBuildInput(kindName, input);
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
}

export async function listSchedules(): Promise<void> {
  await withClient(async (client) => {
    for await (const s of client.schedule.list()) {
      const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
      const action = s.action?.type === 'startWorkflow' ? s.action.workflowType : '?';
      console.log(
        `${s.scheduleId.padEnd(24)} ${action.padEnd(14)} ${s.state.paused ? 'paused ' : 'active '} next ${next}`,
      );
    }
  });
}

export async function changeSchedule(verb: 'pause' | 'unpause' | 'trigger' | 'delete', name: string): Promise<void> {
  await withClient(async (client) => {
    const handle = client.schedule.getHandle(name);
    if (verb === 'pause') await handle.pause('paused with xenimage schedule pause');
    else if (verb === 'unpause') await handle.unpause('resumed with xenimage schedule unpause');
    else if (verb === 'trigger') await handle.trigger(ScheduleOverlapPolicy.SKIP);
    else await handle.delete();
    console.log(`schedule ${name}: ${verb} done`);
  });
}
