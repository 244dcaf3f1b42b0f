// Wall-clock timing of a benchmark case: the median of a few runs.
export async function median(runs: number, body: () => Promise<void>): Promise<{ ms: number; all: number[] }> {
  const all: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await body();
    all.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { ms: sorted[Math.floor(sorted.length / 2)]!, all };
}

export function mbps(bytes: number, ms: number): string {
  return (bytes / 1e6 / (ms / 1000)).toFixed(0);
}

/**
 * Runs the cases in turns (a, b, c, a, b, c, …), so a change of load on a shared machine hits them all alike,
 * and returns each case's median. `between` runs before every timed run, untimed.
 */
export async function roundRobin(
  cases: Array<[string, () => Promise<void>]>,
  runs: number,
  between?: () => Promise<unknown>,
): Promise<Map<string, number>> {
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let run = 0; run < runs; run++) {
    for (const [name, body] of cases) {
      await between?.();
      times.get(name)!.push((await median(1, body)).ms);
    }
  }
  return new Map([...times].map(([name, all]) => [name, [...all].sort((a, b) => a - b)[Math.floor(all.length / 2)]!]));
}
