// Every activity the worker registers, made from the worker's deps (the Temporal samples' `createActivities`).
// Workflows import this module as types only: `proxyActivities<Activities>`.
import type { ActivityDeps } from './deps.js';
import { goldenActivities } from './golden.js';
import { guestActivities } from './guest.js';
import { hostActivities } from './host.js';
import { imageActivities } from './image.js';
import { mediaActivities } from './media.js';
import { queueActivities } from './queues.js';
import { secretActivities } from './secrets.js';
import { xenActivities } from './xen.js';

export function createActivities(deps: ActivityDeps) {
  return {
    ...hostActivities(),
    ...queueActivities(),
    ...secretActivities(deps),
    ...imageActivities(deps),
    ...xenActivities(deps),
    ...mediaActivities(deps),
    ...guestActivities(deps),
    ...goldenActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

export { openActivityDeps, type ActivityDeps, type OwnedActivityDeps } from './deps.js';
export type { GuestConnection } from './guest.js';
export type { Rotation } from '../src/openstack/golden.js';
export type { ImageVerification, PublishedImage, SourceReport, VerificationCheck } from './image.js';
export type { AnswerMediaRequest, PreparedAnswerMedia } from './media.js';
