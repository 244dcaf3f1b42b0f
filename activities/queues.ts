// What Temporal knows of a task queue's workers. A pool's first call that waited past tuning.poolWorkerTimeout
// asks this (on the general queue) whether any worker polls the pool's queue: none is an unknown pool, some means
// the pool's workers are busy and the build waits its turn (docs/decisions/builds-0003-pool-load-and-waits.md).
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { activity, parse } from './support.js';

/** temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL and TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY. */
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;

const QueueInputSchema = z.object({ taskQueue: z.string().min(1) }).strict();

export interface QueuePollers {
  /** Workers that polled the queue for activities recently (Temporal keeps pollers seen in the last minutes). */
  pollers: number;
  identities: string[];
}

export function queueActivities() {
  return {
    /** DescribeTaskQueue: the activity pollers of a task queue. */
    async queuePollers(input: z.input<typeof QueueInputSchema>): Promise<QueuePollers> {
      return activity(async () => {
        const i = parse(QueueInputSchema, input, 'queuePollers');
        const context = Context.current();
        const described = await context.client.workflowService.describeTaskQueue({
          namespace: context.info.activityNamespace,
          taskQueue: { name: i.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
          taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
        });
        const pollers = described.pollers ?? [];
        return { pollers: pollers.length, identities: pollers.map((p) => p.identity ?? '').filter(Boolean) };
      });
    },
  };
}
