// Warns when a cron schedule in a local time zone fires at a wall-clock time that a daylight-saving change skips
// (a gap: that run does not happen at the time written) or repeats (it may happen twice). The zone's transitions in
// the coming year come from the platform's time zone data (Intl); the cron expression is matched on wall-clock
// time by cron-parser evaluated in UTC, which has no transitions of its own.
import { CronExpressionParser } from 'cron-parser';
import { InvalidInputError } from '../errors.js';

export interface DstWarning {
  kind: 'gap' | 'repeat';
  /** The wall-clock time the schedule names, YYYY-MM-DD HH:MM. */
  local: string;
  zone: string;
  message: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The zone's offset from UTC at an instant, in ms (wall clock minus UTC). */
function offsetAt(format: Intl.DateTimeFormat, t: number): number {
  const parts = Object.fromEntries(format.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return wall - Math.floor(t / 1000) * 1000;
}

function zoneFormat(zone: string): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  } catch {
    throw new InvalidInputError(`unknown time zone "${zone}" (an IANA name such as Europe/Berlin)`, {
      field: 'timezone',
    });
  }
}

/** Offset changes in [from, from + days): the instant (to the minute) and the offsets before and after. */
function transitions(format: Intl.DateTimeFormat, from: number, days: number) {
  const found: Array<{ at: number; before: number; after: number }> = [];
  const end = from + days * 24 * HOUR;
  let prev = offsetAt(format, from);
  for (let t = from + HOUR; t <= end; t += HOUR) {
    const cur = offsetAt(format, t);
    if (cur === prev) continue;
    let lo = t - HOUR;
    let hi = t;
    while (hi - lo > MINUTE) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
      if (offsetAt(format, mid) === prev) lo = mid;
      else hi = mid;
    }
    found.push({ at: hi, before: prev, after: cur });
    prev = cur;
  }
  return found;
}

/** The first wall-clock time in [start, end) (wall clock as UTC ms) at which the cron expression fires. */
function firesWithin(cron: string, start: number, end: number): number | undefined {
  const next = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: new Date(start - 1000) })
    .next()
    .getTime();
  return next >= start && next < end ? next : undefined;
}

function wallText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/** Warnings for the DST gaps and repeats the schedule meets in the `days` after `from`. */
export function dstWarnings(cron: string, zone: string, from = new Date(), days = 366): DstWarning[] {
  const format = zoneFormat(zone);
  try {
    CronExpressionParser.parse(cron, { tz: 'UTC' });
  } catch (err) {
    throw new InvalidInputError(`invalid cron expression "${cron}": ${(err as Error).message}`, { field: 'cron' });
  }
  const warnings: DstWarning[] = [];
  for (const { at, before, after } of transitions(format, from.getTime(), days)) {
    const gap = after > before;
    // Wall-clock window the change skips (clocks forward) or repeats (clocks back).
    const start = at + Math.min(before, after);
    const end = at + Math.max(before, after);
    const fires = firesWithin(cron, start, end);
    if (fires === undefined) continue;
    const local = wallText(fires);
    warnings.push({
      kind: gap ? 'gap' : 'repeat',
      local,
      zone,
      message: gap
        ? `${local} does not exist in ${zone} (clocks go forward): that run does not happen at the time written`
        : `${local} happens twice in ${zone} (clocks go back): that run may start twice`,
    });
  }
  return warnings;
}
