// Glance v2 over a Keystone session: image records, data upload (chunked or with Content-Length) and download,
// deletion. Every call carries the caller's AbortSignal; JSON calls are also bounded by a timeout and are
// repeated once with a fresh token after a 401. Uploads are not repeated here (the body is a one-shot stream):
// they raise GlanceUnauthorized and the caller restarts them with a new body (see publish.ts).
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { InvalidInputError } from '../errors.js';
import { GlanceError, glanceHttpError } from './errors.js';
import type { KeystoneSession } from './keystone.js';
import { normaliseImageEndpoint } from './keystone.js';
import type { Transport } from './transport.js';

export type Visibility = 'public' | 'community' | 'shared' | 'private';
export const VISIBILITIES: readonly Visibility[] = ['public', 'community', 'shared', 'private'];

/** The fields of a Glance image record that xenimage reads; custom properties are string-valued extras. */
export interface GlanceImage {
  id: string;
  name: string | null;
  status: string;
  visibility: Visibility;
  container_format: string | null;
  disk_format: string | null;
  size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  min_disk: number;
  min_ram: number;
  tags: string[];
  owner: string | null;
  created_at: string;
  [property: string]: unknown;
}

export interface CreateImageRequest {
  name: string;
  container_format: string;
  disk_format: string;
  visibility?: Visibility;
  min_disk?: number;
  min_ram?: number;
  tags?: string[];
  /** Custom properties: string values only (Glance refuses anything else). */
  properties?: Record<string, string>;
}

export interface ListImagesQuery {
  tag?: string;
  owner?: string;
  status?: string;
  name?: string;
  /** 'true': hidden images only (Glance lists the visible ones by default). */
  os_hidden?: 'true' | 'false';
  /** Custom property filters: images whose property equals the value. */
  properties?: Record<string, string>;
}

export interface UploadOptions {
  /** Sent as Content-Length instead of chunked transfer (for proxies that refuse chunked bodies). */
  contentLength?: number;
  signal?: AbortSignal;
}

export interface GlanceClientOptions {
  /** Bound of one JSON request (default 120 s). Uploads and downloads are bounded by the caller's signal. */
  requestTimeoutMs?: number;
}

interface RequestOptions {
  json?: unknown;
  signal?: AbortSignal | undefined;
  contentType?: string;
}

/** Glance's error bodies are JSON ({"message", "title"}) or HTML; keep one short line. */
async function serverMessage(res: { text(): Promise<string> }): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: string; title?: string; error?: { message?: string } };
    const msg = body.message ?? body.error?.message ?? body.title;
    if (msg) return msg.replace(/\s+/g, ' ').trim().slice(0, 300);
  } catch {
    // not JSON
  }
  return text
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

export class GlanceClient {
  private baseUrl: string | undefined;
  private readonly timeoutMs: number;

  constructor(
    readonly session: KeystoneSession,
    private readonly transport: Transport,
    options: GlanceClientOptions = {},
  ) {
    this.timeoutMs = options.requestTimeoutMs ?? 120_000;
  }

  /** The Glance base URL (catalog type "image"), without /v2. */
  async endpoint(signal?: AbortSignal): Promise<string> {
    this.baseUrl ??= normaliseImageEndpoint(
      this.session.cloud.imageEndpointOverride ?? (await this.session.endpoint('image', signal)),
    );
    return this.baseUrl;
  }

  /** POST /v2/images. A non-string property value is refused here, before Glance sees it. */
  async createImage(req: CreateImageRequest, signal?: AbortSignal): Promise<GlanceImage> {
    const { properties, ...core } = req;
    for (const [key, value] of Object.entries(properties ?? {})) {
      if (typeof value !== 'string') {
        throw new InvalidInputError(
          `image property "${key}" must be a string, not ${typeof value} (Glance accepts only strings)`,
          { field: `properties.${key}` },
        );
      }
    }
    const body = { ...properties, ...core };
    return (await this.json('POST', '/v2/images', 'create image', [201], { json: body, signal })) as GlanceImage;
  }

  async getImage(id: string, signal?: AbortSignal): Promise<GlanceImage> {
    return (await this.json('GET', `/v2/images/${encodeURIComponent(id)}`, `get image ${id}`, [200], {
      signal,
    })) as GlanceImage;
  }

  /** All images matching the query, following Glance's pagination (visibility=all: community ones too). */
  async listImages(query: ListImagesQuery, signal?: AbortSignal): Promise<GlanceImage[]> {
    const params = new URLSearchParams({ visibility: 'all', limit: '100' });
    const { properties, ...fields } = query;
    for (const [k, v] of Object.entries({ ...fields, ...properties })) if (v !== undefined) params.set(k, v);
    let next: string | undefined = `/v2/images?${params.toString()}`;
    const images: GlanceImage[] = [];
    while (next) {
      const page = (await this.json('GET', next, 'list images', [200], { signal })) as {
        images: GlanceImage[];
        next?: string;
      };
      images.push(...page.images);
      next = page.next;
    }
    return images;
  }

  /**
   * PATCH the image record with JSON patch operations (custom properties, os_hidden). Properties that exist are
   * replaced, new ones added, `null` removes one; values must be strings, or booleans for Glance's own fields.
   */
  async updateImage(
    id: string,
    changes: Record<string, string | boolean | null>,
    signal?: AbortSignal,
  ): Promise<GlanceImage> {
    const current = await this.getImage(id, signal);
    const ops = Object.entries(changes).flatMap(([key, value]) => {
      const path = `/${key}`;
      if (value === null) return key in current ? [{ op: 'remove', path }] : [];
      if (current[key] === value) return [];
      return [{ op: key in current ? 'replace' : 'add', path, value }];
    });
    if (ops.length === 0) return current;
    return (await this.json('PATCH', `/v2/images/${encodeURIComponent(id)}`, `update image ${id}`, [200], {
      json: ops,
      contentType: 'application/openstack-images-v2.1-json-patch',
      signal,
    })) as GlanceImage;
  }

  /** POST /actions/deactivate: the image stays, but no new instance can be made from it (204, also when already). */
  async deactivateImage(id: string, signal?: AbortSignal): Promise<void> {
    await this.json(
      'POST',
      `/v2/images/${encodeURIComponent(id)}/actions/deactivate`,
      `deactivate image ${id}`,
      [204],
      { signal },
    );
  }

  /** DELETE; an image already gone (404) counts as deleted. Returns whether it existed. */
  async deleteImage(id: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.json('DELETE', `/v2/images/${encodeURIComponent(id)}`, `delete image ${id}`, [204], { signal });
      return true;
    } catch (err) {
      if (err instanceof GlanceError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * PUT /file with the stream as body (chunked unless contentLength is given). Uses the session's current token;
   * a 401 is raised as GlanceUnauthorized (type) for the caller to restart with a fresh token and a new stream.
   */
  async uploadImageData(id: string, body: AsyncIterable<Uint8Array>, options: UploadOptions = {}): Promise<void> {
    const url = `${await this.endpoint(options.signal)}/v2/images/${encodeURIComponent(id)}/file`;
    const token = await this.session.token(options.signal);
    const headers: Record<string, string> = { 'x-auth-token': token, 'content-type': 'application/octet-stream' };
    if (options.contentLength !== undefined) headers['content-length'] = String(options.contentLength);
    const res = await this.transport.fetch(url, {
      method: 'PUT',
      headers,
      body: body as unknown as ReadableStream,
      duplex: 'half',
      // Without both, fetch clones the request for a possible redirect: a tee of the body whose unread branch
      // kept every byte sent (peak RSS grew by the whole image: docs/benchmarks.md, "Upload alone").
      redirect: 'error',
      window: null,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (res.status === 204) {
      await res.arrayBuffer();
      return;
    }
    throw glanceHttpError(res.status, `upload of image ${id}`, await serverMessage(res));
  }

  /** GET /file as a Node stream (backpressure from the consumer). */
  async downloadImageData(id: string, signal?: AbortSignal): Promise<Readable> {
    const path = `/v2/images/${encodeURIComponent(id)}/file`;
    const res = await this.send('GET', path, `download of image ${id}`, { signal }, false);
    if (res.status !== 200 || !res.body) {
      throw glanceHttpError(res.status, `download of image ${id}`, await serverMessage(res));
    }
    return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  }

  private async json(
    method: string,
    path: string,
    what: string,
    expect: number[],
    options: RequestOptions,
  ): Promise<unknown> {
    const res = await this.send(method, path, what, options, true);
    if (!expect.includes(res.status)) throw glanceHttpError(res.status, what, await serverMessage(res));
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  }

  /** One request with the current token; after a 401 once more with a renewed token. */
  private async send(method: string, path: string, what: string, options: RequestOptions, bounded: boolean) {
    const url = `${await this.endpoint(options.signal)}${path}`;
    let token = await this.session.token(options.signal);
    for (let attempt = 0; ; attempt++) {
      const timeout = bounded ? AbortSignal.timeout(this.timeoutMs) : undefined;
      const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
      const headers: Record<string, string> = { 'x-auth-token': token, accept: 'application/json' };
      if (options.json !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
      let res;
      try {
        res = await this.transport.fetch(url, {
          method,
          headers,
          ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
          ...(signals.length ? { signal: AbortSignal.any(signals) } : {}),
        });
      } catch (err) {
        // Our own bound fired (not the caller's abort): a typed, retryable timeout.
        if (timeout?.aborted && !options.signal?.aborted) {
          throw new GlanceError(
            'GlanceTimeout',
            `Glance ${what} did not answer within ${this.timeoutMs} ms`,
            undefined,
            { retryable: true, cause: err },
          );
        }
        throw err;
      }
      if (res.status !== 401 || attempt > 0) return res;
      await res.arrayBuffer();
      token = await this.session.renew(options.signal, token);
    }
  }
}
