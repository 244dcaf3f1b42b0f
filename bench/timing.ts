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
  return ((bytes / 1e6) / (ms / 1000)).toFixed(0);
}
