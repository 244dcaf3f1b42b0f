// Names and payloads of the messages a build answers: the `progress` query and the operator updates (see
// docs/operator-guide.md). Workflows define the handlers; the CLI calls them by these names.

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
  /** The pool resource (exports, imports, starts) the step waited for, at the pool's limit. */
  queuedFor?: string;
  /** When the step started and ended (ISO 8601, from the workflow clock). */
  startedAt?: string;
  endedAt?: string;
}

/** The tail of one guest log file, scrubbed of the build's secrets. */
export interface GuestLogFile {
  path: string;
  lines: string[];
  /** Lines were dropped at the head (the file had more, or the build's log budget ran out). */
  truncated: boolean;
}

/** Guest logs collected at one moment of a build (after a failed sysprep attempt, before sysprep's shutdown). */
export interface GuestLogCollection {
  attempt: number;
  moment: 'sysprep failed' | 'before shutdown';
  collectedAt: string;
  files: GuestLogFile[];
  /** Log files the guest does not have. */
  missing: string[];
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
  /** The build's identity (workflow ID @ first run ID): what it tags in the pool and in Glance. */
  build?: string;
  state: BuildState;
  step: string;
  attempt: number;
  steps: StepRecord[];
  bytesDone?: number;
  bytesTotal?: number;
  /** The pool resource the current step waits for: the pool is at its limit, the build is queued, not failed. */
  queuedFor?: string;
  sysprepAttempts?: SysprepAttemptRecord[];
  /** What the operator must decide when state is awaiting-operator. */
  waitingFor?: string;
  /** Failures after the image was verified (the commit point): they no longer fail the build. */
  warnings?: string[];
  /** Guest logs an operator needs (Windows builds), bounded and scrubbed. */
  guestLogs?: GuestLogCollection[];
  /** The checks before the first sysprep attempt (Windows builds), one record per check. */
  preSysprepChecks?: PreSysprepCheckRecord[];
}

export interface PreSysprepCheckRecord {
  check: 'updates-installing' | 'pending-reboot' | 'appx' | 'bitlocker' | 'reserved-storage';
  /** clear: nothing found; fixed: found and remedied; found: found and left (report mode, or the fix did not hold). */
  outcome: 'clear' | 'fixed' | 'found';
  detail: string;
}

export interface RetrySysprepRequest {
  /** A remedy (REMEDY_NAME): remove-appx, reboot, none, or script:<name> (a script kept on the workers). */
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
  /** Set while the activity waits for a slot of its pool (exports, imports, starts). */
  queuedFor?: string;
}

/** Remedies an operator may name in retrySysprep (see src/windows/guest/remedies.ts). */
export const REMEDY_NAME = /^(remove-appx|reboot|none|script:[A-Za-z0-9._-]{1,64})$/;
