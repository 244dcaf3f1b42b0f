// An HTTP(S) URL as a positional byte source, through Range requests. The server must honour Range (206) and
// keep serving the same version (same ETag and size) for the whole read; small reads (qcow2 metadata,
// compressed clusters) go through a small LRU of aligned pages so they do not become one request each.
import { XenimageError } from '../errors.js';
import { DiskCorruptError, DiskSourceError, type DiskSourceErrorType } from './errors.js';
import type { ByteSource } from './source.js';

export interface HttpSourceOptions {
  /** Extra request headers (e.g. an Authorization value the caller resolved from a secret reference). */
  headers?: Record<string, string>;
  /** Page size of the read cache (default 1 MiB); reads at least this large bypass the cache. */
  pageSize?: number;
  /** Pages kept (default 8). */
  cachePages?: number;
  /** Inactivity timeout of a request: no header or body byte for this long fails it (default 60 s). */
  timeoutMs?: number;
  /** Attempts per request for transient failures (default 3). */
  attempts?: number;
  /** The fetch to use (default: the global one, following redirects); activities pass the input policy's. */
  fetch?: (url: URL, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<FetchedResponse>;
}

/** What HttpSource reads of a response (the global fetch's and undici's both qualify). */
export interface FetchedResponse {
  status: number;
  headers: { get(name: string): string | null };
  body: (AsyncIterable<Uint8Array> & { cancel(): Promise<void> }) | null;
  bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** The URL without credentials or query string: safe for logs and error messages. */
export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function statusError(status: number, what: string): DiskSourceError {
  let type: DiskSourceErrorType = 'DiskSourceUnavailable';
  if (status === 404 || status === 410) type = 'DiskSourceNotFound';
  else if (status === 401 || status === 403) type = 'DiskSourceDenied';
  const retryable = type === 'DiskSourceUnavailable' && (status >= 500 || status === 408 || status === 429);
  return new DiskSourceError(type, `${what}: HTTP ${status}`, { retryable, details: { status } });
}

export class HttpSource implements ByteSource {
  private readonly pages = new Map<number, Buffer>();
  private readonly closer = new AbortController();
  private readonly pageSize: number;
  private readonly cachePages: number;

  private constructor(
    private readonly url: URL,
    private readonly headers: Record<string, string>,
    private readonly options: HttpSourceOptions,
    readonly description: string,
    readonly size: number,
    private readonly etag: string | undefined,
    firstPage: Buffer,
  ) {
    this.pageSize = options.pageSize ?? 1024 * 1024;
    this.cachePages = options.cachePages ?? 8;
    if (firstPage.length === this.pageSize || firstPage.length === size) this.pages.set(0, firstPage);
  }

  static async open(urlText: string, options: HttpSourceOptions = {}, signal?: AbortSignal): Promise<HttpSource> {
    const url = new URL(urlText);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new DiskSourceError('DiskSourceNotFound', `unsupported URL scheme ${url.protocol}`);
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (url.username || url.password) {
      // fetch refuses credentials inside URLs; send them as Basic auth and keep them out of every message.
      headers.authorization ??= `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    const description = describeUrl(url);
    const pageSize = options.pageSize ?? 1024 * 1024;
    const probe = new HttpSource(
      url,
      headers,
      options,
      description,
      Number.MAX_SAFE_INTEGER,
      undefined,
      Buffer.alloc(0),
    );
    const first = await probe.fetchRange(0, pageSize, signal, true);
    return new HttpSource(url, headers, options, description, first.total, first.etag, first.body);
  }

  async read(buffer: Buffer, position: number, signal?: AbortSignal): Promise<void> {
    const end = position + buffer.length;
    if (end > this.size) {
      throw new DiskCorruptError(
        `${this.description}: read past the end (${end} > ${this.size} bytes); truncated or corrupt`,
      );
    }
    if (buffer.length === 0) return;
    if (buffer.length >= this.pageSize) {
      (await this.fetchRange(position, end, signal)).body.copy(buffer);
      return;
    }
    const firstPage = Math.floor(position / this.pageSize);
    const lastPage = Math.floor((end - 1) / this.pageSize);
    // Fetch the missing pages of the span in one request.
    const missing: number[] = [];
    for (let p = firstPage; p <= lastPage; p++) if (!this.pages.has(p)) missing.push(p);
    if (missing.length > 0) {
      const from = missing[0]! * this.pageSize;
      const to = Math.min(this.size, (missing[missing.length - 1]! + 1) * this.pageSize);
      const { body } = await this.fetchRange(from, to, signal);
      for (const p of missing)
        this.remember(
          p,
          body.subarray(p * this.pageSize - from, Math.min(body.length, (p + 1) * this.pageSize - from)),
        );
    }
    for (let p = firstPage; p <= lastPage; p++) {
      const page = this.pages.get(p)!;
      this.pages.delete(p); // LRU order
      this.pages.set(p, page);
      const pageStart = p * this.pageSize;
      const s = Math.max(position, pageStart);
      const e = Math.min(end, pageStart + page.length);
      page.copy(buffer, s - position, s - pageStart, e - pageStart);
    }
  }

  private remember(page: number, data: Buffer): void {
    this.pages.set(page, Buffer.from(data)); // own copy: the response body may be larger than the page
    while (this.pages.size > this.cachePages) this.pages.delete(this.pages.keys().next().value!);
  }

  /** One Range request [start, end), retried on transient failures; checks the version did not change. */
  private async fetchRange(
    start: number,
    end: number,
    signal: AbortSignal | undefined,
    first = false,
  ): Promise<{ body: Buffer; total: number; etag?: string }> {
    const attempts = this.options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.fetchOnce(start, end, signal, first);
      } catch (err) {
        signal?.throwIfAborted();
        if (this.closer.signal.aborted) throw err;
        const retryable = err instanceof XenimageError ? err.retryable : true;
        if (!retryable || attempt >= attempts) {
          if (err instanceof XenimageError) throw err; // typed (a source error, a refused address) as it is
          throw new DiskSourceError('DiskSourceUnavailable', `${this.description}: ${(err as Error).message}`, {
            retryable: true,
            cause: err,
          });
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      }
    }
  }

  private async fetchOnce(
    start: number,
    end: number,
    signal: AbortSignal | undefined,
    first: boolean,
  ): Promise<{ body: Buffer; total: number; etag?: string }> {
    // Inactivity, not duration: the timer restarts whenever the server sends something.
    const idle = new AbortController();
    const idleMs = this.options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => idle.abort(new DOMException('no data', 'TimeoutError')), idleMs);
    const alive = () => timer.refresh();
    const signals = [this.closer.signal, idle.signal];
    if (signal) signals.push(signal);
    const headers: Record<string, string> = { ...this.headers, range: `bytes=${start}-${end - 1}` };
    if (this.etag && !this.etag.startsWith('W/')) headers['if-range'] = this.etag;
    const signalAll = AbortSignal.any(signals);
    let res: FetchedResponse;
    try {
      res = this.options.fetch
        ? await this.options.fetch(this.url, { headers, signal: signalAll })
        : await fetch(this.url, { headers, signal: signalAll, redirect: 'follow' });
    } catch (err) {
      clearTimeout(timer);
      throw err;
    }
    alive();
    try {
      if (res.status === 200) {
        throw first
          ? new DiskSourceError(
              'DiskSourceRangeUnsupported',
              `${this.description}: the server does not support Range requests (answered 200 to a Range request)`,
              {
                retryable: false,
              },
            )
          : new DiskSourceError(
              'DiskSourceChanged',
              `${this.description}: the image changed on the server while it was being read`,
              { retryable: true },
            );
      }
      if (res.status === 416 && first) throw new DiskCorruptError(`${this.description}: the image is empty`);
      if (res.status !== 206) throw statusError(res.status, this.description);
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!range || range[3] === '*') {
        throw new DiskSourceError(
          'DiskSourceRangeUnsupported',
          `${this.description}: the server's 206 answer has no usable Content-Range`,
          { retryable: false },
        );
      }
      const total = Number(range[3]);
      const etag = res.headers.get('etag') ?? undefined;
      if (!first && (total !== this.size || etag !== this.etag)) {
        throw new DiskSourceError(
          'DiskSourceChanged',
          `${this.description}: the image changed on the server while it was being read (ETag or size differs)`,
          {
            retryable: true,
          },
        );
      }
      const wanted = Math.min(end, total) - start;
      if (Number(range[1]) !== start || Number(range[2]) - start + 1 !== wanted) {
        throw new DiskSourceError(
          'DiskSourceUnavailable',
          `${this.description}: the server answered another range (${range[0]})`,
          { retryable: true },
        );
      }
      const parts: Buffer[] = [];
      let received = 0;
      for await (const part of res.body ?? []) {
        alive();
        received += part.length;
        // Bounded: a server cannot make a range read hold more than the range asked for.
        if (received > wanted) {
          throw new DiskSourceError(
            'DiskSourceUnavailable',
            `${this.description}: the server sent more than the ${wanted} bytes asked for`,
            { retryable: true },
          );
        }
        parts.push(Buffer.from(part as Uint8Array));
      }
      const body = Buffer.concat(parts);
      if (body.length !== wanted) {
        throw new DiskSourceError(
          'DiskSourceUnavailable',
          `${this.description}: short response (${body.length} of ${wanted} bytes)`,
          { retryable: true },
        );
      }
      return { body, total, etag };
    } finally {
      clearTimeout(timer);
      if (!res.bodyUsed) await res.body?.cancel().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closer.abort();
    this.pages.clear();
  }
}
