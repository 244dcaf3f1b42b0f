// The options of `xenimage schedule create`, shared by the command (src/cli/schedule.ts) and its lazily loaded
// action (src/cli/actions/schedule.ts) so that neither imports the other.
export const OVERLAP_POLICIES = ['skip', 'buffer-one', 'allow-all'] as const;
export const RETIRE_NAMES = ['hide', 'deactivate', 'delete'] as const;

export interface ScheduleCreateOptions {
  cron?: string;
  every?: string;
  timezone: string;
  overlap: string;
  catchup: string;
  paused?: boolean;
  keep: string;
  retire: string;
  imageName?: string;
}
