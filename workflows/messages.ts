// Queries, updates and signals of the builds (names and payloads in src/contracts/messages.ts).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import {
  ABANDON_UPDATE,
  ACTIVITY_PROGRESS_SIGNAL,
  PROGRESS_QUERY,
  RETRY_SYSPREP_UPDATE,
  type AbandonRequest,
  type ActivityProgress,
  type BuildProgress,
  type RetrySysprepRequest,
} from '../src/contracts/messages.js';

export const progressQuery = defineQuery<BuildProgress>(PROGRESS_QUERY);
export const activityProgressSignal = defineSignal<[ActivityProgress]>(ACTIVITY_PROGRESS_SIGNAL);
export const retrySysprepUpdate = defineUpdate<{ accepted: true; attempt: number }, [RetrySysprepRequest]>(
  RETRY_SYSPREP_UPDATE,
);
export const abandonUpdate = defineUpdate<{ accepted: true }, [AbandonRequest]>(ABANDON_UPDATE);
