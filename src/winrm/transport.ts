// One SOAP request to a WS-Management listener: HTTP(S) POST with Basic auth, a hard per-request timeout, TLS
// trust by CA or by a pinned certificate, and cancellation. Only transport concerns live here; faults in the
// body are parsed by the caller (HTTP 500 carries every SOAP fault).
import http from 'node:http';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
// winrm-client does these two things correctly (UTF-8 Basic header; local / DOMAIN\\user / UPN parsing); the rest
// of its transport is not used (docs/decisions/windows-0001-winrm-client.md).
import { createBasicAuth, parseUsername } from 'winrm-client/dist/src/utils/auth.js';
import { InvalidInputError } from '../errors.js';
import { WinrmAuthError, WinrmConnectionError, WinrmProtocolError, WinrmTimeoutError, WinrmTlsError } from './errors.js';

export interface WinrmTlsOptions {
  /** Trust these CA certificates (PEM) and check the host name as usual. */
  ca?: string | string[];
  /**
   * Trust exactly this self-signed certificate (PEM): it becomes the only trust anchor and the peer's SHA-256
   * fingerprint must equal it; the host name is not checked (the guest's address is not in a build-time cert).
   */
  pinnedCertificate?: string;
  servername?: string;
}

export interface WinrmEndpoint {
  host: string;
  port: number;
  https: boolean;
  /** Default `/wsman`. */
  path?: string;
  username: string;
  password: string;
  tls?: WinrmTlsOptions;
}

export interface SoapResponse {
  status: number;
  body: string;
}

class StaleSocketError extends Error {}

const STALE_WINDOW_MS = 200;

export function endpointUrl(e: Pick<WinrmEndpoint, 'host' | 'port' | 'https' | 'path'>): string {
  return `${e.https ? 'https' : 'http'}://${e.host}:${e.port}${e.path ?? '/wsman'}`;
}


/** Keeps one keep-alive agent per endpoint; `close()` drops idle sockets. */
export class SoapTransport {
  readonly url: string;
  private readonly agent: http.Agent;
  private readonly endpoint: WinrmEndpoint;

  constructor(endpoint: WinrmEndpoint) {
    // Basic works for local accounts only; a domain account would need NTLM or Kerberos (not implemented).
    if (parseUsername(endpoint.username).format !== 'local') {
      throw new InvalidInputError(`WinRM user "${endpoint.username}" is a domain account: only local accounts (Basic auth) are supported`);
    }
    this.endpoint = endpoint;
    this.url = endpointUrl(endpoint);
    if (endpoint.https) {
      const tls = endpoint.tls ?? {};
      let checkServerIdentity: ((host: string, cert: PeerCertificate) => Error | undefined) | undefined;
      let ca = tls.ca;
      if (tls.pinnedCertificate) {
        const pinned = new X509Certificate(tls.pinnedCertificate).fingerprint256;
        ca = tls.pinnedCertificate;
        checkServerIdentity = (_host, cert) =>
          cert.fingerprint256 === pinned ? undefined : new Error(`certificate ${cert.fingerprint256} is not the pinned ${pinned}`);
      }
      const options: https.AgentOptions = { keepAlive: true, maxSockets: 4, rejectUnauthorized: true };
      if (ca) options.ca = ca;
      if (tls.servername) options.servername = tls.servername;
      if (checkServerIdentity) options.checkServerIdentity = checkServerIdentity;
      this.agent = new https.Agent(options);
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    }
  }

  /**
   * Posts one envelope. Resolves with status 200 or 500 (500 = SOAP fault, parsed by the caller); 401 and
   * every other status, network errors, timeouts and TLS failures reject with typed errors; an aborted
   * signal rejects with its reason.
   */
  async post(body: string, action: string, timeoutMs: number, signal?: AbortSignal): Promise<SoapResponse> {
    try {
      return await this.postOnce(body, action, timeoutMs, signal);
    } catch (err) {
      // A keep-alive socket the server closed meanwhile (reboot, service restart): the request never reached
      // the service, so sending it once more on a fresh connection is safe (Node's documented pattern).
      if (err instanceof StaleSocketError) return this.postOnce(body, action, timeoutMs, signal);
      throw err;
    }
  }

  private postOnce(body: string, action: string, timeoutMs: number, signal?: AbortSignal): Promise<SoapResponse> {
    const e = this.endpoint;
    const mod = e.https ? https : http;
    const payload = Buffer.from(body, 'utf8');
    return new Promise<SoapResponse>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let settled = false;
      let gotResponse = false;
      const sentAt = Date.now();
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const req = mod.request({
        host: e.host,
        port: e.port,
        path: e.path ?? '/wsman',
        method: 'POST',
        agent: this.agent,
        headers: {
          Authorization: createBasicAuth(e.username, e.password),
          'Content-Type': 'application/soap+xml;charset=UTF-8',
          'Content-Length': payload.length,
          'User-Agent': 'xenimage-winrm',
        },
      });
      const timer = setTimeout(() => {
        finish(() => reject(new WinrmTimeoutError(this.url, action, timeoutMs)));
        req.destroy();
      }, timeoutMs);
      const onAbort = (): void => {
        finish(() => reject(signal?.reason));
        req.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish(() => {
          const code = err.code ?? '';
          // Only an error right after sending on a reused socket means "stale socket"; later it means the
          // service went away mid-request. Command and Send are never resent (they are not idempotent).
          const stale = req.reusedSocket && !gotResponse && Date.now() - sentAt < STALE_WINDOW_MS && action !== 'Command' && action !== 'Send';
          if (stale && (code === 'ECONNRESET' || code === 'EPIPE')) {
            reject(new StaleSocketError());
            return;
          }
          if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|pinned/i.test(code + err.message)) {
            reject(new WinrmTlsError(this.url, `TLS verification failed: ${err.message}`, err));
          } else if (code === 'ECONNRESET' && /socket hang up/i.test(err.message)) {
            reject(new WinrmConnectionError(this.url, action, 'HANGUP', err));
          } else {
            reject(new WinrmConnectionError(this.url, action, code || 'EIO', err));
          }
        });
      });
      req.on('response', (res) => {
        gotResponse = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) =>
          finish(() => reject(new WinrmConnectionError(this.url, action, err.code ?? 'ECONNRESET', err))),
        );
        res.on('aborted', () => finish(() => reject(new WinrmConnectionError(this.url, action, 'ECONNRESET', new Error('response aborted')))));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          finish(() => {
            if (status === 401) {
              const h = res.headers['www-authenticate'];
              const offered = (Array.isArray(h) ? h : h ? [h] : []).map((v) => v.split(/\s+/)[0] ?? v);
              reject(new WinrmAuthError(this.url, offered));
            } else if (status === 200 || status === 500) {
              resolve({ status, body: text });
            } else {
              reject(new WinrmProtocolError(this.url, action, `unexpected HTTP ${status}`, { httpStatus: status }));
            }
          });
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
