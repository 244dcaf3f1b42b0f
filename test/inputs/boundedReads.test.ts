// Bounded memory against hostile peers: a WinRM answer beyond the cap and an HTTP range answer longer than the
// range asked for are refused typed while they stream, not read whole into memory.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { HttpSource } from '../../src/disk/httpSource.js';
import { MAX_RESPONSE_BYTES, SoapTransport } from '../../src/winrm/transport.js';

async function serve(t: { after(fn: () => Promise<void>): void }, handler: http.RequestListener): Promise<number> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as AddressInfo).port;
}

/** Writes `total` bytes in 64 KiB chunks (chunked encoding: no Content-Length to refuse up front). */
function stream(res: http.ServerResponse, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  let sent = 0;
  const more = (): void => {
    while (sent < total) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', more);
    }
    res.end();
  };
  res.on('error', () => undefined);
  more();
}

test('a WinRM answer larger than the cap is refused while it streams', async (t) => {
  let sentBytes = 0;
  const port = await serve(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/soap+xml' });
    res.on('finish', () => (sentBytes = MAX_RESPONSE_BYTES * 4));
    stream(res, MAX_RESPONSE_BYTES * 4);
  });
  const transport = new SoapTransport({ host: '127.0.0.1', port, https: false, username: 'builder', password: 'x' });
  t.after(() => transport.close());
  await assert.rejects(
    transport.post('<x/>', 'Receive', 30_000),
    (err: Error & { type?: string; retryable?: boolean }) => {
      assert.equal(err.type, 'WinrmProtocolError', err.message);
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`larger than ${MAX_RESPONSE_BYTES} bytes`));
      return true;
    },
  );
  assert.equal(sentBytes, 0, 'the connection was dropped before the server finished sending');
});

test('an HTTP source answering more than the range asked for is refused typed', async (t) => {
  const size = 4 * 1024 * 1024;
  const port = await serve(t, (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const start = Number(m?.[1] ?? 0);
    const end = Math.min(Number(m?.[2] ?? size - 1), size - 1);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, etag: '"v1"' });
    stream(res, (end - start + 1) * 8); // eight times what was asked for
  });
  await assert.rejects(
    HttpSource.open(`http://127.0.0.1:${port}/disk.raw`, { attempts: 1, pageSize: 64 * 1024 }),
    (err: Error & { type?: string }) => {
      assert.equal(err.type, 'DiskSourceUnavailable', err.message);
      assert.match(err.message, /more than the 65536 bytes asked for/);
      return true;
    },
  );
});
