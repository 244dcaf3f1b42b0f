// Two listeners per pool host, as a XenServer host serves plain HTTP and HTTPS (node:http, node:https with the
// pool's own certificate, ./tls.ts). Routing follows XAPI's longest-prefix rule: POST /jsonrpc* is
// JSON-RPC, every other POST is XML-RPC, GET /export_raw_vdi* and PUT /import_raw_vdi* are the VDI transfer
// handlers, OPTIONS answers CORS preflights. A listener whose host is not the master redirects the transfer
// handlers to the master with a 302 on the same scheme (RPC calls are forwarded, as a pool member does; login
// answers HOST_IS_SLAVE).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { LabCore } from '../api/context.js';
import { handleJsonRpc, handlePreflight, handleXmlRpc, sendError } from './rpc.js';
import { handleExport, handleImport } from './transfer.js';

export interface HostListener {
  hostRef: string;
  address: string;
  port: number;
  scheme: 'http' | 'https';
  close(): Promise<void>;
}

function route(core: LabCore, hostRef: string, scheme: 'http' | 'https', port: number) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://lab');
    const path = url.pathname;
    const transfer =
      (req.method === 'GET' && path.startsWith('/export_raw_vdi')) ||
      (req.method === 'PUT' && path.startsWith('/import_raw_vdi'));
    if (transfer) {
      const master = core.masterRef();
      if (hostRef !== master) {
        const location = `${scheme}://${core.hostAddress(master)}:${port}${url.pathname}${url.search}`;
        res.writeHead(302, { Location: location, 'Content-Length': 0 });
        res.end();
        req.resume();
        return;
      }
      const name = path.startsWith('/export') ? 'export_raw_vdi' : 'import_raw_vdi';
      const fault = core.faults.take(['connectionReset', 'http500'], name);
      if (fault?.kind === 'connectionReset') return void req.socket.destroy();
      if (fault?.kind === 'http500') return sendError(res, 500, 'Internal Server Error');
      return name === 'export_raw_vdi' ? handleExport(core, req, res) : handleImport(core, req, res);
    }
    if (req.method === 'POST') {
      return path.startsWith('/jsonrpc')
        ? handleJsonRpc(core, hostRef, req, res)
        : handleXmlRpc(core, hostRef, req, res);
    }
    if (req.method === 'OPTIONS') return handlePreflight(res);
    req.resume();
    sendError(res, 404, 'Not Found');
  };
}

export async function listen(
  core: LabCore,
  hostRef: string,
  address: string,
  port: number,
  tls?: { cert: string; key: string },
): Promise<HostListener> {
  const sockets = new Set<Socket>();
  let actualPort = port;
  const scheme = tls ? 'https' : 'http';
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(
      core,
      hostRef,
      scheme,
      actualPort,
    )(req, res).catch((err: unknown) => {
      core.log.error({ err }, 'lab request failed');
      if (!res.headersSent) sendError(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  };
  const server = tls
    ? https.createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(handler);
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  actualPort = (server.address() as AddressInfo).port;
  return {
    hostRef,
    address,
    port: actualPort,
    scheme,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
