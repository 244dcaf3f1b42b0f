// Durations as operators write them ("500ms", "90s", "10m", "2h", "7d"): one schema for every input and config
// field, and their length in milliseconds (what Temporal's timeouts and timers take).
import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

export const DurationSchema = z.string().regex(DURATION, 'a duration such as "90s", "10m", "2h" or "7d"');

/** Milliseconds of a duration DurationSchema accepted. */
export function durationMs(duration: string): number {
  const m = DURATION.exec(duration);
  if (!m) throw new TypeError(`not a duration: "${duration}"`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}
