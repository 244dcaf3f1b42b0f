// A proxy in front of the lab's Glance that can hold an upload, as a wedged load balancer or a dead network path
// does: it forwards every request, and when armed it stops reading an image-data PUT's body after `afterBytes`
// and never answers, until the client gives up; then it drops its connection to Glance (which puts the image back
// to queued). A cloud reaches Glance through it with clouds.yaml's `image_endpoint_override`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HoldRule {
  /** Body bytes let through before the hold (default 1 MiB). */
  afterBytes?: number;
  /** How many uploads to hold (default 1); later ones pass. */
  uploads?: number;
}

export interface HoldingProxy {
  /** The proxy's base URL (http://127.0.0.1:port), for `image_endpoint_override`. */
  url: string;
  /** Arms the hold for the next image-data uploads. */
  hold(rule?: HoldRule): void;
  /** The images whose uploads were held, in order; and the requests forwarded. */
  readonly held: readonly string[];
  readonly forwarded: number;
  close(): Promise<void>;
}

const IMAGE_DATA = /^\/v2\/images\/[^/]+\/file$/;

export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const upstreamBase = new URL(target);
  let armed: Required<HoldRule> | undefined;
  const held: string[] = [];
  let forwarded = 0;

  const server = http.createServer((req, res) => {
    forwarded += 1;
    const url = new URL(req.url ?? '/', upstreamBase);
    const upstream = http.request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    // The client went away (it gave up on a held upload): Glance's side goes too.
    res.on('close', () => upstream.destroy());
    const holdThis = armed !== undefined && req.method === 'PUT' && IMAGE_DATA.test(url.pathname);
    if (!holdThis) {
      req.pipe(upstream);
      return;
    }
    const rule = armed!;
    if (--rule.uploads <= 0) armed = undefined;
    let passed = 0;
    req.on('data', (chunk: Buffer) => {
      if (passed >= rule.afterBytes) return;
      const room = rule.afterBytes - passed;
      passed += Math.min(room, chunk.length);
      upstream.write(chunk.subarray(0, room));
      if (passed >= rule.afterBytes) {
        held.push(decodeURIComponent(url.pathname.split('/')[3] ?? ''));
        // Stop reading: the client's writes back up, no byte moves, no answer comes.
        req.pause();
      }
    });
    req.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hold(rule = {}) {
      armed = { afterBytes: rule.afterBytes ?? 1024 * 1024, uploads: rule.uploads ?? 1 };
    },
    get held() {
      return held;
    },
    get forwarded() {
      return forwarded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
