// A small local HTTP file server for the URL-source tests, with switchable misbehaviour.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ServerMode {
  /** Ignore Range and always send the whole file with 200. */
  noRange?: boolean;
  /** Change the ETag after this many requests. */
  changeEtagAfter?: number;
  /** Answer 503 to the first N requests. */
  failFirst?: number;
  /** Required `user:password` (Basic auth). */
  auth?: string;
}

export interface FileServer {
  url(name: string): string;
  requests: number;
  mode: ServerMode;
  close(): Promise<void>;
}

export async function serveDir(dir: string, mode: ServerMode = {}): Promise<FileServer> {
  const state: FileServer = { url: () => '', requests: 0, mode, close: async () => undefined };
  const server = http.createServer((req, res) => {
    state.requests++;
    void (async () => {
      if (state.mode.failFirst && state.requests <= state.mode.failFirst) return void res.writeHead(503).end();
      if (state.mode.auth && req.headers.authorization !== `Basic ${Buffer.from(state.mode.auth).toString('base64')}`) {
        return void res.writeHead(401).end();
      }
      const file = path.join(dir, path.basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
      const size = await stat(file).then(
        (s) => s.size,
        () => -1,
      );
      if (size < 0) return void res.writeHead(404).end();
      const etag =
        state.mode.changeEtagAfter !== undefined && state.requests > state.mode.changeEtagAfter ? '"v2"' : '"v1"';
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (state.mode.noRange || !range) {
        res.writeHead(200, { 'content-length': size, etag });
        return void createReadStream(file).pipe(res);
      }
      const start = Number(range[1]);
      const end = Math.min(size - 1, range[2] ? Number(range[2]) : size - 1);
      if (start >= size) return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      res.writeHead(206, {
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${size}`,
        etag,
        'accept-ranges': 'bytes',
      });
      createReadStream(file, { start, end }).pipe(res);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  state.url = (name) => `http://127.0.0.1:${port}/${name}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
