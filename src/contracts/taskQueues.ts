// Task queue names, built here and nowhere else: workflows schedule pool work on a pool's queue, workers poll it,
// the CLI and the tests name it. Pure, so workflows can import it.

/** The task queue of one XenServer pool's work: `xen-<pool>`. */
export function poolTaskQueue(pool: string): string {
  return `xen-${pool}`;
}
