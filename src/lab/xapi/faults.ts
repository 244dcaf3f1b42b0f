// Faults the lab injects on a schedule, as real pools produce them: connection resets mid-call, HTTP 500s,
// slow answers, expired sessions, a master that moved (HOST_IS_SLAVE), an export stream cut mid-way,
// VDI_IO_ERROR on import, a stalled event.from. Scenarios declare them (faults.xapi); tests add them at run time.
import { z } from 'zod';

export const XapiFaultSchema = z
  .object({
    kind: z.enum([
      'connectionReset',
      'http500',
      'slow',
      'sessionInvalid',
      'hostIsSlave',
      'exportCut',
      'importIoError',
      'eventStall',
    ]),
    /**
     * What it applies to: an RPC method (`VM.start`; `Async.VM.start` is matched by `VM.start` too), `*` for every
     * call, or `export_raw_vdi` / `import_raw_vdi` for the HTTP handlers. Defaults per kind (see docs/lab.md).
     */
    method: z.string().min(1).optional(),
    /** Fires on the Nth matching call (1-based). Default 1. */
    call: z.number().int().min(1).optional(),
    /** Keeps firing on every matching call from the Nth on (bounded by `times` when given). */
    every: z.boolean().optional(),
    /** How many consecutive matching calls it fires on (default 1; unlimited with `every`). */
    times: z.number().int().min(1).optional(),
    /** Only once the lab has been up this long (ms, wall clock). */
    afterMs: z.number().int().min(0).optional(),
    /** slow / eventStall: how long the answer is held (ms, wall clock; eventStall defaults to 70 s). */
    delayMs: z.number().int().min(0).optional(),
    /** connectionReset: drop the connection before the call runs (default) or after it ran (answer lost). */
    phase: z.enum(['before', 'after']).optional(),
    /** exportCut / importIoError: after how many body bytes (default: half of the transfer). */
    atByte: z.number().int().min(0).optional(),
  })
  .strict();

export type XapiFault = z.infer<typeof XapiFaultSchema>;

const DEFAULT_METHOD: Record<XapiFault['kind'], string> = {
  connectionReset: '*',
  http500: '*',
  slow: '*',
  sessionInvalid: '*',
  hostIsSlave: 'session.login_with_password',
  exportCut: 'export_raw_vdi',
  importIoError: 'import_raw_vdi',
  eventStall: 'event.from',
};

interface ArmedFault {
  fault: XapiFault;
  seen: number;
  fired: number;
}

export interface FiredFault {
  kind: XapiFault['kind'];
  method: string;
  at: string;
}

function methodMatches(pattern: string, method: string): boolean {
  if (pattern === '*') return !method.startsWith('export_raw_vdi') && !method.startsWith('import_raw_vdi');
  const bare = method.replace(/^(Async|InternalAsync)\./, '');
  return pattern === method || pattern === bare;
}

export class FaultPlan {
  private readonly armed: ArmedFault[] = [];
  private readonly started = Date.now();
  /** Every fault that fired, in order (tests read it to prove a fault happened). */
  readonly fired: FiredFault[] = [];
  /** RPC calls received, by method (benchmarks read how much a build asks of the pool). */
  readonly calls = new Map<string, number>();

  constructor(faults: readonly XapiFault[] = []) {
    for (const f of faults) this.inject(f);
  }

  inject(fault: XapiFault): void {
    this.armed.push({ fault: XapiFaultSchema.parse(fault), seen: 0, fired: 0 });
  }

  clear(): void {
    this.armed.length = 0;
  }

  /**
   * Counts this call against every armed fault of the given kinds and returns the first one whose schedule fires.
   * `method` is the RPC method name or the HTTP handler name.
   */
  /** Counts one RPC call of `method` (every call passes the plan once, faults or not). */
  count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  take(kinds: ReadonlyArray<XapiFault['kind']>, method: string): XapiFault | undefined {
    let hit: XapiFault | undefined;
    for (const a of this.armed) {
      const f = a.fault;
      if (!kinds.includes(f.kind) || !methodMatches(f.method ?? DEFAULT_METHOD[f.kind], method)) continue;
      if (f.afterMs !== undefined && Date.now() - this.started < f.afterMs) continue;
      a.seen += 1;
      const first = f.call ?? 1;
      const limit = f.times ?? (f.every ? Number.POSITIVE_INFINITY : 1);
      if (hit === undefined && a.seen >= first && a.fired < limit) {
        a.fired += 1;
        hit = f;
        this.fired.push({ kind: f.kind, method, at: new Date().toISOString() });
      }
    }
    return hit;
  }
}

/** Holds an answer for `ms` (slow, eventStall); returns early when the lab stops. */
export function hold(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
