// A connection to one XAPI pool through the `xen-api` client: calls with typed errors, Async calls with
// AbortSignal cancellation, the event-fed record cache, event-driven waits (with a periodic direct re-read so a
// stalled event loop cannot hang a wait), streaming export and import of VDIs, TLS verification with an optional
// CA. xen-api re-logs in on SESSION_INVALID and follows the master on HOST_IS_SLAVE at login.
import http from 'node:http';
import https from 'node:https';
import { Transform, type Readable } from 'node:stream';
import { Agent } from 'undici';
import { createClient, type Xapi, type XapiObject } from 'xen-api';
import { TransferStalledError, XenimageError } from '../errors.js';
import type { Logger } from '../log.js';
import { hasXapiCode, toXapiError, XapiConnectionError } from './errors.js';
import { NULL_REF, type RecordClass, type RecordTypes, type Ref, type WithRef } from './records.js';

/** How often a read (`Class.get_…`) is tried when the connection breaks. */
const READ_RETRIES = 4;

/** The classes the connection keeps in its cache (event.from subscribes to these). */
export const WATCHED_CLASSES: RecordClass[] = [
  'pool',
  'host',
  'VM',
  'VBD',
  'VDI',
  'SR',
  'network',
  'VIF',
  'task',
  'VM_guest_metrics',
];

export interface ConnectionTarget {
  /** The pool's name (for messages). */
  pool: string;
  url: string;
  username: string;
  password: string;
  /** PEM of a CA to trust (TLS verification stays on). */
  ca?: string | undefined;
}

export interface ConnectionOptions {
  log?: Logger | undefined;
  /** Delay before xen-api retries a failed event.from (default 5 s; the library's 60 s stalls watchers). */
  eventPollDelayMs?: number;
  /** How often a wait looks whether events have stalled, and then re-reads its records directly (default 15 s). */
  recheckMs?: number;
  /**
   * How long without any event.from answer means the event loop has stalled (default 70 s: event.from answers at
   * least every 60 s, even with nothing to report). Until then waits cost no call of their own.
   */
  eventsStaleMs?: number;
}

export type RecordGetter = <C extends RecordClass>(cls: C, ref: Ref) => WithRef<RecordTypes[C]> | undefined;

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** What is awaited, for the timeout message. */
  what: string;
}

export class WaitTimeoutError extends XenimageError {
  constructor(what: string, timeoutMs: number) {
    super('XapiWaitTimeout', `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`, {
      retryable: false,
      details: { what, timeoutMs },
    });
  }
}

export class CancelledError extends XenimageError {
  constructor(what: string) {
    super('Cancelled', `${what} was cancelled`, { retryable: false });
  }
}

function abortError(signal: AbortSignal | undefined, what: string): Error {
  return signal?.reason instanceof XenimageError ? signal.reason : new CancelledError(what);
}

/** The oldest TLS the engine speaks to a pool (xen-api's own clients accept TLS 1.0; docs/decisions/inputs-0001). */
export const XAPI_MIN_TLS = 'TLSv1.2';

/**
 * Gives xen-api's HTTP clients the engine's TLS settings — TLS ≥ 1.2, verification on, and the pool's CA when it
 * has one: xen-api only offers `allowUnauthorized`, so its undici dispatcher and its agent for uploads are replaced
 * before the first connection (fields of xen-api 4.7.6; a test guards them).
 */
function configureTls(xapi: Xapi, ca: string | undefined): () => Promise<void> {
  const internals = xapi as unknown as {
    _undiciDispatcher: unknown;
    _httpAgent: unknown;
    _url: unknown;
    _setUrl(url: unknown): void;
    _httpInactivityTimeout: number;
  };
  if (typeof internals._setUrl !== 'function' || internals._url === undefined)
    throw new Error('xen-api internals changed: cannot configure TLS');
  const timeout = internals._httpInactivityTimeout;
  const tls = { minVersion: XAPI_MIN_TLS, rejectUnauthorized: true, ...(ca ? { ca } : {}) } as const;
  const dispatcher = new Agent({ bodyTimeout: timeout, headersTimeout: timeout, connect: tls });
  // An agent's options win over a request's, so xen-api's `minVersion: 'TLSv1'` on uploads does not apply.
  const agent = new https.Agent({ ...tls, keepAlive: true });
  internals._undiciDispatcher = dispatcher;
  internals._httpAgent = agent;
  internals._setUrl(internals._url);
  return async () => {
    agent.destroy();
    await dispatcher.destroy().catch(() => undefined);
  };
}

export class XapiConnection {
  readonly pool: string;
  readonly xapi: Xapi;
  private readonly target: ConnectionTarget;
  private readonly log: Logger | undefined;
  private readonly recheckMs: number;
  private readonly eventsStaleMs: number;
  /** When event.from last answered (or the initial fetch ended): the cache is that fresh. */
  private eventsAliveAt = Date.now();
  private closed = false;
  private releaseAgents: (() => Promise<void>) | undefined;

  private constructor(target: ConnectionTarget, options: ConnectionOptions) {
    this.pool = target.pool;
    this.target = target;
    this.log = options.log;
    this.recheckMs = options.recheckMs ?? 15_000;
    this.eventsStaleMs = options.eventsStaleMs ?? 70_000;
    this.xapi = createClient({
      url: target.url,
      auth: { user: target.username, password: target.password },
      watchEvents: [...WATCHED_CLASSES],
      eventPollDelay: options.eventPollDelayMs ?? 5000,
      debounce: 50,
      callTimeout: 10 * 60_000,
    });
    this.releaseAgents = configureTls(this.xapi, target.ca);
    // Every concurrent wait listens for event batches: many builds share one connection.
    this.xapi.objects.setMaxListeners(0);
    this.xapi.on('eventFetchingSuccess', () => {
      this.eventsAliveAt = Date.now();
    });
  }

  /** Whether event.from has been silent longer than it may be: then waits read their records themselves. */
  private get eventsStalled(): boolean {
    return Date.now() - this.eventsAliveAt > this.eventsStaleMs;
  }

  /** Connects (login, following the master) and waits for the initial record fetch. */
  static async open(target: ConnectionTarget, options: ConnectionOptions = {}): Promise<XapiConnection> {
    const conn = new XapiConnection(target, options);
    try {
      await conn.xapi.connect();
      await conn.xapi.objectsFetched;
      conn.eventsAliveAt = Date.now();
    } catch (err) {
      await conn.close();
      throw toXapiError(err, 'session.login_with_password');
    }
    return conn;
  }

  get isOpen(): boolean {
    return !this.closed && this.xapi.status !== 'disconnected';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.xapi.disconnect().catch(() => undefined);
    await this.releaseAgents?.();
  }

  /**
   * A synchronous call; XAPI errors become typed XenimageErrors. Reads (`Class.get_…`) are retried after a broken
   * connection (xen-api retries only ECONNRESET, undici reports a peer's close as a socket error).
   */
  async call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const readOnly = /^[^.]+\.get_/.test(method);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.xapi.call<T>(method, ...args);
      } catch (err) {
        const typed = toXapiError(err, method);
        if (!(readOnly && typed instanceof XapiConnectionError && attempt < READ_RETRIES)) throw typed;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * `Async.<method>`: waits for the task through the event cache; an abort cancels the task (task.cancel) and
   * rejects at once; the task is destroyed either way.
   */
  async callAsync<T = unknown>(
    method: string,
    args: unknown[],
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal, method);
    const task = await this.call<Ref>(`Async.${method}`, ...args);
    const result = this.xapi.watchTask<T>(task);
    const destroy = () => void this.xapi.call('task.destroy', task).catch(() => undefined);
    try {
      if (!signal) return await result;
      return await new Promise<T>((resolve, reject) => {
        const onAbort = () => {
          void this.xapi.call('task.cancel', task).catch(() => undefined);
          reject(abortError(signal, method));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        result.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } catch (err) {
      throw toXapiError(err, method);
    } finally {
      result.then(destroy, destroy);
    }
  }

  /** A record from the event cache (undefined when absent). */
  cached<C extends RecordClass>(cls: C, ref: Ref): WithRef<RecordTypes[C]> | undefined {
    if (!ref || ref === NULL_REF) return undefined;
    const o = this.xapi.getObjectByRef(ref, undefined as unknown as XapiObject) as XapiObject | undefined;
    return o && o.$type === cls ? (o as unknown as WithRef<RecordTypes[C]>) : undefined;
  }

  /** Every cached record of a class. */
  all<C extends RecordClass>(cls: C): Array<WithRef<RecordTypes[C]>> {
    return Object.values(this.xapi.objects.all).filter((o) => o.$type === cls) as unknown as Array<
      WithRef<RecordTypes[C]>
    >;
  }

  /** A record read from XAPI now (not the cache). */
  async fetch<C extends RecordClass>(cls: C, ref: Ref): Promise<WithRef<RecordTypes[C]>> {
    const rec = await this.call<RecordTypes[C]>(`${cls}.get_record`, ref);
    return { ...rec, $ref: ref };
  }

  /** Waits until the record cache (and XAPI) agree everything up to now is known. */
  async barrier(): Promise<void> {
    try {
      await this.xapi.barrier();
    } catch (err) {
      throw toXapiError(err, 'pool.add_to_other_config');
    }
  }

  /**
   * Resolves with the first defined value `evaluate` returns, evaluating on every batch of events. When the event
   * loop has stalled (no event.from answer for `eventsStaleMs`), the records the evaluation looked at are re-read
   * directly every `recheckMs`, so a stalled loop only delays. While events flow a wait makes one direct read, at
   * its start, whatever it lasts. `evaluate` may throw to give up (e.g. the VM went away).
   */
  waitFor<T>(evaluate: (get: RecordGetter) => T | undefined, options: WaitOptions): Promise<T> {
    const { signal, timeoutMs, what } = options;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal, `waiting for ${what}`));
      let touched = new Map<Ref, RecordClass>();
      let done = false;
      const cacheGetter: RecordGetter = (cls, ref) => {
        touched.set(ref, cls);
        return this.cached(cls, ref);
      };
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(recheck);
        this.xapi.objects.removeListener('finish', onEvents);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const attempt = (get: RecordGetter) => {
        try {
          const value = evaluate(get);
          if (value !== undefined) finish(() => resolve(value));
        } catch (err) {
          finish(() => reject(err));
        }
      };
      const onEvents = () => {
        touched = new Map();
        attempt(cacheGetter);
      };
      const onAbort = () => finish(() => reject(abortError(signal, `waiting for ${what}`)));
      const timer = setTimeout(() => finish(() => reject(new WaitTimeoutError(what, timeoutMs))), timeoutMs);
      const direct = () => {
        if (done) return;
        void this.directEvaluation(evaluate, touched).then(
          (value) => value !== undefined && finish(() => resolve(value)),
          (err: unknown) => {
            if (err instanceof XapiConnectionError || hasXapiCode(err, 'SESSION_INVALID')) return; // next round
            finish(() => reject(err));
          },
        );
      };
      const recheck = setInterval(() => this.eventsStalled && direct(), this.recheckMs);
      this.xapi.objects.on('finish', onEvents);
      signal?.addEventListener('abort', onAbort, { once: true });
      onEvents();
      // The cache may lag behind XAPI when the wait starts: one direct read settles what already happened.
      direct();
    });
  }

  /** Evaluates with records fetched from XAPI (those the last evaluation touched, and any it touches next). */
  private async directEvaluation<T>(
    evaluate: (get: RecordGetter) => T | undefined,
    touched: Map<Ref, RecordClass>,
  ): Promise<T | undefined> {
    const fresh = new Map<Ref, XapiObject | null>();
    let wanted = new Map(touched);
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        [...wanted]
          .filter(([ref]) => !fresh.has(ref))
          .map(async ([ref, cls]) => {
            try {
              fresh.set(ref, (await this.fetch(cls, ref)) as unknown as XapiObject);
            } catch (err) {
              if (hasXapiCode(err, 'HANDLE_INVALID')) fresh.set(ref, null);
              else throw err;
            }
          }),
      );
      const next = new Map<Ref, RecordClass>();
      const value = evaluate((cls, ref) => {
        if (!fresh.has(ref)) {
          next.set(ref, cls);
          return this.cached(cls, ref);
        }
        return (fresh.get(ref) ?? undefined) as never;
      });
      if (next.size === 0 || value !== undefined) return value;
      wanted = next;
    }
    return undefined;
  }

  /** Ends a client-created task no handler will complete (xen-api then destroys it). */
  private abandonTask(task: Ref): void {
    void this.xapi.call('task.set_status', task, 'cancelled').catch(() => undefined);
  }

  /** The base URL of the current master (xen-api moves it when the master changes). */
  private async masterUrl(): Promise<URL> {
    const master = this.xapi.pool.master as string;
    const host = this.xapi.getObjectByRef(master, undefined as unknown as XapiObject);
    if (host) return this.xapi.getHostBackupUrl(host);
    return new URL(this.target.url);
  }

  /** One GET of an HTTP handler with node:http(s), following 302 redirects to another host but never https→http. */
  private async get(
    pathname: string,
    query: Record<string, string>,
    signal: AbortSignal | undefined,
    idleTimeoutMs?: number,
  ): Promise<http.IncomingMessage> {
    let url = await this.masterUrl();
    url.pathname = pathname;
    url.search = new URLSearchParams(query).toString();
    for (let hop = 0; hop < 4; hop++) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const client = url.protocol === 'https:' ? https : http;
        const req = client.request(
          url,
          {
            method: 'GET',
            signal,
            ...(url.protocol === 'https:'
              ? { minVersion: XAPI_MIN_TLS, ...(this.target.ca ? { ca: this.target.ca } : {}) }
              : {}),
          },
          resolve,
        );
        // Socket inactivity (headers or body): a wedged host or a stalled stream ends as a retryable stall.
        if (idleTimeoutMs)
          req.setTimeout(idleTimeoutMs, () => req.destroy(new TransferStalledError(`GET ${pathname}`, idleTimeoutMs)));
        req.on('error', reject);
        req.end();
      });
      if (res.statusCode === 302 && res.headers.location) {
        res.resume();
        const next = new URL(res.headers.location, url);
        if (url.protocol === 'https:' && next.protocol !== 'https:')
          throw new XenimageError('XapiInsecureRedirect', `${pathname} redirects from https to ${next.protocol}`, {
            retryable: false,
            details: { from: url.host, to: next.host },
          });
        url = next;
        continue;
      }
      return res;
    }
    throw new XapiConnectionError(`too many redirects for ${pathname}`);
  }

  /**
   * Streams a VDI out of the pool (`/export_raw_vdi`, raw or a dynamic VHD of the allocated blocks). The stream
   * runs until XAPI closes the connection; `task` settles with the XAPI task (VDI_IO_ERROR when the export broke).
   * node:http is used rather than xen-api's getResource: undici 6 can crash the process when such a body ends
   * while its consumer applies backpressure (nodejs/undici#5360, docs/decisions/xapi-0002).
   */
  async exportVdi(
    vdi: Ref,
    format: 'vhd' | 'raw',
    options: { signal?: AbortSignal | undefined; idleTimeoutMs?: number | undefined } = {},
  ): Promise<{ stream: Readable; task: Promise<void> }> {
    const { signal, idleTimeoutMs } = options;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw abortError(signal, 'the export');
      const task = await this.xapi.createTask('xenimage export', `export_raw_vdi ${format}`).catch((err: unknown) => {
        throw toXapiError(err, 'task.create');
      });
      const settled = this.xapi.watchTask(task).then(
        () => undefined,
        (err: unknown) => {
          throw toXapiError(err, 'export_raw_vdi');
        },
      );
      settled.catch(() => undefined);
      let res: http.IncomingMessage;
      try {
        res = await this.get(
          '/export_raw_vdi',
          { format, vdi, session_id: this.xapi.sessionId, task_id: task },
          signal,
          idleTimeoutMs,
        );
      } catch (err) {
        this.abandonTask(task);
        if (signal?.aborted) throw abortError(signal, 'the export');
        if (err instanceof XenimageError) throw err;
        throw new XapiConnectionError(`export of ${vdi} failed: ${(err as Error).message}`, err);
      }
      if (res.statusCode === 401 && attempt === 0) {
        // The session expired: any call makes xen-api log in again.
        res.resume();
        await this.call('pool.get_all');
        continue;
      }
      if (res.statusCode !== 200) {
        res.resume();
        // The handler may have failed the task with the reason (unknown format, bad VDI), or never touched it
        // (a 500 from a proxy, a 401): take the task's error when it comes promptly, else the HTTP status.
        const failed = await Promise.race([
          settled.then(
            () => undefined,
            (err: unknown) => err,
          ),
          new Promise((r) => setTimeout(r, 1000, undefined)),
        ]);
        if (failed === undefined) this.abandonTask(task);
        if (failed instanceof XenimageError) throw failed;
        const status = res.statusCode ?? 0;
        if (status >= 500)
          throw new XapiConnectionError(`export of ${vdi} answered HTTP ${status}`, undefined, { status });
        throw new XenimageError('XapiHttpRefused', `export of ${vdi} answered HTTP ${status}`, {
          retryable: false,
          details: { status },
        });
      }
      if (signal) {
        const onAbort = () => {
          res.destroy(abortError(signal, 'the export'));
          void this.xapi.call('task.cancel', task).catch(() => undefined);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        res.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      return { stream: res, task: settled };
    }
  }

  /**
   * Streams `length` bytes (raw or VHD) into an existing VDI (`/import_raw_vdi`, Content-Length, never chunked)
   * and resolves when XAPI's task succeeded. The stream is given the `length` xen-api needs to send a real
   * Content-Length. `onProgress` sees the bytes sent so far.
   */
  async importVdi(
    vdi: Ref,
    source: Readable,
    length: number,
    format: 'vhd' | 'raw',
    options: { signal?: AbortSignal | undefined; onProgress?: (bytes: number) => void } = {},
  ): Promise<void> {
    const { signal, onProgress } = options;
    if (signal?.aborted) throw abortError(signal, 'the import');
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        onProgress?.(sent);
        done(null, chunk);
      },
    });
    source.on('error', (err) => counter.destroy(err));
    const body = Object.assign(source.pipe(counter), { length });
    const onAbort = () => {
      body.destroy(abortError(signal, 'the import'));
      source.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // Our own task: when the upload's connection breaks, its verdict (e.g. VDI_IO_ERROR) is the better error.
    const task = await this.xapi.createTask('xenimage import', `import_raw_vdi ${format}`).catch((err: unknown) => {
      throw toXapiError(err, 'task.create');
    });
    try {
      await this.xapi.putResource(body, '/import_raw_vdi/', { query: { format, vdi }, task });
    } catch (err) {
      if (signal?.aborted) {
        this.abandonTask(task);
        throw abortError(signal, 'the import');
      }
      const verdict = await Promise.race([
        this.xapi.watchTask(task).then(
          () => undefined,
          (e: unknown) => e,
        ),
        new Promise((r) => setTimeout(r, 1000, undefined)),
      ]);
      if (verdict === undefined) this.abandonTask(task);
      throw toXapiError(verdict ?? err, 'import_raw_vdi');
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (sent !== length) throw new XapiConnectionError(`import of ${vdi} sent ${sent} of ${length} bytes`);
  }
}
