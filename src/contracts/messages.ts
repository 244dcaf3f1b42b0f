// Names and payloads of the messages a build answers (ARCHITECTURE.md §3): the `progress` query and the
// operator updates. Workflows define the handlers; the CLI calls them by these names.

export const PROGRESS_QUERY = 'progress';
export const RETRY_SYSPREP_UPDATE = 'retrySysprep';
export const ABANDON_UPDATE = 'abandon';

export type BuildState = 'running' | 'awaiting-operator' | 'cleaning-up' | 'succeeded' | 'failed' | 'cancelled';

export interface StepRecord {
  step: string;
  status: 'running' | 'done' | 'failed' | 'skipped';
  attempt: number;
  /** Short, secret-free facts about the step's outcome (refs, sizes, flags). */
  note?: string;
}

export interface SysprepAttemptRecord {
  attempt: number;
  outcome: 'succeeded' | 'failed';
  failureType?: string;
  /** The Panther log lines that identified the failure. */
  pantherExcerpt?: string[];
  remedy?: string;
}

export interface BuildProgress {
  kind: string;
  state: BuildState;
  step: string;
  attempt: number;
  steps: StepRecord[];
  bytesDone?: number;
  bytesTotal?: number;
  sysprepAttempts?: SysprepAttemptRecord[];
  /** What the operator must decide when state is awaiting-operator. */
  waitingFor?: string;
}

export interface RetrySysprepRequest {
  /** Name of a remedy from the remedy catalogue (e.g. "remove-appx", "reserved-storage"), or a secret-free script reference. */
  remedy?: string;
  note?: string;
}

export interface AbandonRequest {
  reason?: string;
}

/** Sent by long activities to their own workflow (a few per minute) so `progress` shows bytes during a transfer. */
export const ACTIVITY_PROGRESS_SIGNAL = 'activityProgress';

export interface ActivityProgress {
  activity: string;
  attempt: number;
  phase: string;
  bytesDone?: number;
  bytesTotal?: number;
}

/** Remedies an operator may name in retrySysprep (see src/windows/guest/remedies.ts). */
export const REMEDY_NAME = /^(remove-appx|reboot|none|script:[A-Za-z0-9._-]{1,64})$/;
