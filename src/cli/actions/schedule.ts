// `xenimage schedule …` against Temporal's schedule API.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { InvalidInputError } from '../../errors.js';
import { buildSummary } from '../../contracts/buildSummary.js';
import { expandImageName, GoldenImageInputSchema, type GoldenImageParams } from '../../contracts/goldenInput.js';
import { parseInput } from '../../contracts/validate.js';
import { BUILD_KIND_NAMES, BUILD_KINDS, isBuildKindName, type BuildKindName } from '../buildKinds.js';
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

/** The goldenImage input a schedule starts with: the build, its stable name, how the series rotates. */
export function goldenInput(name: string, kindName: BuildKindName, input: unknown, opts: ScheduleCreateOptions) {
  const keep = Number(opts.keep);
  const raw = {
    schedule: name,
    kind: kindName,
    imageName: opts.imageName ?? '{name}',
    keep,
    retire: opts.retire,
    build: input,
  };
  const parsed = parseInput(GoldenImageInputSchema, raw);
  if (!parsed.ok) throw new InvalidInputError(`invalid schedule: ${parsed.message}`);
  // The build's own input, as the build will see it (its image name replaced by the series' name).
  const sample = expandImageName(parsed.value.imageName, name, new Date());
  const image = (input as { image?: object }).image;
  validateBuildInput(kindName, { ...(input as object), image: { ...image, name: sample } });
  return parsed.value;
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
  const golden = goldenInput(name, kindName, input, opts);
  // A local time that daylight saving skips or repeats: said before the schedule exists, which it still does.
  if (opts.cron && opts.timezone !== 'UTC') {
    const { dstWarnings } = await import('../dstCheck.js');
    for (const w of dstWarnings(opts.cron, opts.timezone)) process.stderr.write(`xenimage: warning: ${w.message}\n`);
  }
  const { summary, details } = buildSummary(kind.workflowType, input, name);
  await withClient(async (client, ctx) => {
    await client.schedule.create({
      scheduleId: name,
      spec: opts.cron
        ? { cronExpressions: [opts.cron], timezone: opts.timezone }
        : { intervals: [{ every: opts.every as '1d' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'goldenImage',
        taskQueue: ctx.config.temporal.taskQueue,
        workflowId: `golden-${name}`,
        args: [golden],
        staticSummary: `golden ${name}: ${summary}`,
        staticDetails: `${details}\n| keep | ${golden.keep} |\n| retire | ${golden.retire} |`,
      },
      memo: { cron: opts.cron, every: opts.every, timezone: opts.timezone, kind: kind.name },
      policies: { overlap, catchupWindow: opts.catchup as '6h' },
      state: { paused: Boolean(opts.paused), note: `created by xenimage schedule create (${kind.name})` },
    });
    console.log(`schedule ${name} created`);
  });
}

interface RunSummary {
  workflowId: string;
  scheduledAt: string;
  status: string;
  imageId?: string;
  warnings?: string[];
  failure?: string;
}

/** A schedule: spec, next runs, recent runs and their outcome, the current image of its series (from Glance). */
export async function describeSchedule(name: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const d = await client.schedule.getHandle(name).describe();
    const golden =
      d.action.type === 'startWorkflow' ? (d.action.args?.[0] as GoldenImageParams | undefined) : undefined;
    const memo = (d.memo ?? {}) as { cron?: string; every?: string; timezone?: string };
    const recent: RunSummary[] = [];
    for (const a of d.info.recentActions.slice(-5).reverse()) {
      if (a.action.type !== 'startWorkflow') continue;
      const { workflowId, firstExecutionRunId } = a.action.workflow;
      const handle = client.workflow.getHandle(workflowId, firstExecutionRunId);
      const status = (await handle.describe()).status.name;
      const run: RunSummary = { workflowId, scheduledAt: a.scheduledAt.toISOString(), status };
      if (status === 'COMPLETED') {
        const r = (await handle.result()) as { imageId?: string; warnings?: string[] };
        if (r.imageId) run.imageId = r.imageId;
        if (r.warnings?.length) run.warnings = r.warnings;
      } else if (status !== 'RUNNING')
        run.failure = await handle.result().then(
          () => undefined,
          (err: Error) => (err.cause instanceof Error ? err.cause.message : err.message),
        );
      recent.push(run);
    }
    const current = golden ? await currentImage(golden) : undefined;
    const view = {
      name,
      paused: d.state.paused,
      spec: memo.cron ? `cron "${memo.cron}" (${memo.timezone ?? 'UTC'})` : memo.every ? `every ${memo.every}` : '?',
      kind: golden?.kind,
      imageName: golden?.imageName,
      keep: golden?.keep,
      retire: golden?.retire,
      nextRuns: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
      recentRuns: recent,
      current,
    };
    if (opts.json) {
      console.log(JSON.stringify(view));
      return;
    }
    console.log(`${name}  ${view.kind ?? '?'}  ${view.paused ? 'paused' : 'active'}  ${view.spec}`);
    console.log(`  image   ${view.imageName ?? '?'} (keep ${view.keep ?? '?'}, retire ${view.retire ?? '?'})`);
    if (current && 'id' in current)
      console.log(`  current ${current.id} ${current.name ?? ''} (verified ${current.verifiedAt})`);
    else console.log(`  current ${current?.error ?? 'none yet'}`);
    for (const t of view.nextRuns) console.log(`  next    ${t}`);
    for (const r of recent)
      console.log(
        `  run     ${r.scheduledAt} ${r.status.padEnd(10)} ${r.workflowId}${r.imageId ? ` → ${r.imageId}` : ''}${r.failure ? ` — ${r.failure}` : ''}${r.warnings ? ` (warnings: ${r.warnings.join('; ')})` : ''}`,
      );
  });
}

/** The series' current image as Glance has it now; Glance's unavailability is shown, not fatal. */
async function currentImage(
  golden: GoldenImageParams,
): Promise<{ id: string; name: string | null; verifiedAt: string } | { error: string } | undefined> {
  const { connectCloud } = await import('../../openstack/index.js');
  const { currentGolden, goldenImages, GOLDEN_VERIFIED_PROPERTY } = await import('../../openstack/golden.js');
  try {
    const cloud = connectCloud(golden.build.cloud);
    try {
      const image = currentGolden(await goldenImages(cloud.glance, golden.schedule));
      return image && { id: image.id, name: image.name, verifiedAt: String(image[GOLDEN_VERIFIED_PROPERTY]) };
    } finally {
      await cloud.close();
    }
  } catch (err) {
    return { error: `unknown (${(err as Error).message})` };
  }
}

export async function listSchedules(): Promise<void> {
  await withClient(async (client) => {
    for await (const s of client.schedule.list()) {
      const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
      const memo = (s.memo ?? {}) as { kind?: string };
      const action = memo.kind ?? (s.action?.type === 'startWorkflow' ? s.action.workflowType : '?');
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
