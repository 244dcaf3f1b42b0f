// One SOAP request to a WS-Management listener: HTTP(S) POST with Basic auth, a hard per-request timeout, TLS
// trust by CA or by a pinned certificate, and cancellation. Only transport concerns live here; faults in the
// body are parsed by the caller (HTTP 500 carries every SOAP fault).
import http from 'node:http';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
// winrm-client does these things correctly: the UTF-8 Basic header, user-name parsing (local / DOMAIN\\user / UPN)
// and NTLMv2 messages; the rest of its transport is not used (docs/decisions/windows-0001-winrm-client.md).
import { createBasicAuth, parseUsername } from 'winrm-client/dist/src/utils/auth.js';
import { createType1Message, createType3Message, decodeType2Message } from 'winrm-client/dist/src/utils/ntlm.js';
import { InvalidInputError } from '../errors.js';
import {
  WinrmAuthError,
  WinrmConnectionError,
  WinrmProtocolError,
  WinrmTimeoutError,
  WinrmTlsError,
} from './errors.js';

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
  /** Basic (default; local accounts) or NTLMv2 (needs AllowUnencrypted=true over plain HTTP: no message sealing). */
  auth?: 'basic' | 'ntlm';
  tls?: WinrmTlsOptions;
}

interface RawResponse {
  status: number;
  body: string;
  authenticate: string[];
}

const WORKSTATION = 'XENIMAGE';

export interface SoapResponse {
  status: number;
  body: string;
}

class StaleSocketError extends Error {}

const STALE_WINDOW_MS = 200;
/** The largest answer read: far above any envelope the client allows (MaxEnvelopeSize, src/winrm/protocol.ts). */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export function endpointUrl(e: Pick<WinrmEndpoint, 'host' | 'port' | 'https' | 'path'>): string {
  return `${e.https ? 'https' : 'http'}://${e.host}:${e.port}${e.path ?? '/wsman'}`;
}

/** Keeps one keep-alive agent per endpoint; `close()` drops idle sockets. */
export class SoapTransport {
  readonly url: string;
  private readonly agent: http.Agent;
  private readonly agentOptions: https.AgentOptions;
  private readonly endpoint: WinrmEndpoint;

  constructor(endpoint: WinrmEndpoint) {
    // Basic works for local accounts only; a domain account needs NTLM (Kerberos is not implemented).
    if ((endpoint.auth ?? 'basic') === 'basic' && parseUsername(endpoint.username).format !== 'local') {
      throw new InvalidInputError(
        `WinRM user "${endpoint.username}" is a domain account: Basic auth works for local accounts only (use auth "ntlm")`,
      );
    }
    this.endpoint = endpoint;
    this.url = endpointUrl(endpoint);
    this.agentOptions = { keepAlive: true, rejectUnauthorized: true };
    if (endpoint.https) {
      const tls = endpoint.tls ?? {};
      let ca = tls.ca;
      if (tls.pinnedCertificate) {
        const pinned = new X509Certificate(tls.pinnedCertificate).fingerprint256;
        ca = tls.pinnedCertificate;
        this.agentOptions.checkServerIdentity = (_host: string, cert: PeerCertificate) =>
          cert.fingerprint256 === pinned
            ? undefined
            : new Error(`certificate ${cert.fingerprint256} is not the pinned ${pinned}`);
      }
      if (ca) this.agentOptions.ca = ca;
      if (tls.servername) this.agentOptions.servername = tls.servername;
    }
    this.agent = this.newAgent(4);
  }

  private newAgent(maxSockets: number): http.Agent {
    return this.endpoint.https
      ? new https.Agent({ ...this.agentOptions, maxSockets })
      : new http.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * Posts one envelope. Resolves with status 200 or 500 (500 = SOAP fault, parsed by the caller); 401 and
   * every other status, network errors, timeouts and TLS failures reject with typed errors; an aborted
   * signal rejects with its reason.
   */
  async post(body: string, action: string, timeoutMs: number, signal?: AbortSignal): Promise<SoapResponse> {
    const payload = Buffer.from(body, 'utf8');
    if (this.endpoint.auth === 'ntlm')
      return this.interpret(await this.ntlmExchange(payload, action, timeoutMs, signal), action);
    const authorization = createBasicAuth(this.endpoint.username, this.endpoint.password);
    try {
      return this.interpret(await this.exchange(payload, action, timeoutMs, signal, this.agent, authorization), action);
    } catch (err) {
      // A keep-alive socket the server closed meanwhile (reboot, service restart): the request never reached
      // the service, so sending it once more on a fresh connection is safe (Node's documented pattern).
      if (err instanceof StaleSocketError)
        return this.interpret(
          await this.exchange(payload, action, timeoutMs, signal, this.agent, authorization),
          action,
        );
      throw err;
    }
  }

  private interpret(res: RawResponse, action: string): SoapResponse {
    if (res.status === 401)
      throw new WinrmAuthError(
        this.url,
        res.authenticate.map((v) => v.split(/\s+/)[0] ?? v),
      );
    if (res.status === 200 || res.status === 500) return { status: res.status, body: res.body };
    throw new WinrmProtocolError(this.url, action, `unexpected HTTP ${res.status}`, { httpStatus: res.status });
  }

  /**
   * NTLM (connection-oriented, so one private connection per message): negotiate → challenge → authenticate
   * with the envelope. Messages come from winrm-client (NTLMv2); the scheme is Negotiate, as Windows offers.
   */
  private async ntlmExchange(
    payload: Buffer,
    action: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    const agent = this.newAgent(1);
    try {
      const { user, domain } = parseUsername(this.endpoint.username);
      const negotiate = createType1Message(WORKSTATION, domain).replace(/^NTLM /, 'Negotiate ');
      const first = await this.exchange(Buffer.alloc(0), action, timeoutMs, signal, agent, negotiate);
      const challenge =
        first.status === 401
          ? first.authenticate.map((v) => /^Negotiate\s+(\S+)/i.exec(v)?.[1]).find(Boolean)
          : undefined;
      if (!challenge) return first;
      let type2: ReturnType<typeof decodeType2Message>;
      try {
        type2 = decodeType2Message(`NTLM ${challenge}`);
      } catch (err) {
        throw new WinrmProtocolError(
          this.url,
          action,
          `the NTLM challenge cannot be decoded (${(err as Error).message})`,
        );
      }
      const authenticate = createType3Message(type2, user, this.endpoint.password, WORKSTATION, domain).replace(
        /^NTLM /,
        'Negotiate ',
      );
      return await this.exchange(payload, action, timeoutMs, signal, agent, authenticate);
    } finally {
      agent.destroy();
    }
  }

  private exchange(
    payload: Buffer,
    action: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    agent: http.Agent,
    authorization: string,
  ): Promise<RawResponse> {
    const e = this.endpoint;
    const mod = e.https ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
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
        agent,
        headers: {
          Authorization: authorization,
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
          const stale =
            req.reusedSocket &&
            !gotResponse &&
            Date.now() - sentAt < STALE_WINDOW_MS &&
            action !== 'Command' &&
            action !== 'Send';
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
        let received = 0;
        res.on('data', (c: Buffer) => {
          received += c.length;
          if (received > MAX_RESPONSE_BYTES) {
            // A guest (or whatever answers at its address) cannot make the worker hold an unbounded answer.
            req.destroy();
            finish(() =>
              reject(
                new WinrmProtocolError(this.url, action, `answer larger than ${MAX_RESPONSE_BYTES} bytes`, {
                  limit: MAX_RESPONSE_BYTES,
                }),
              ),
            );
            return;
          }
          chunks.push(c);
        });
        res.on('error', (err: NodeJS.ErrnoException) =>
          finish(() => reject(new WinrmConnectionError(this.url, action, err.code ?? 'ECONNRESET', err))),
        );
        res.on('aborted', () =>
          finish(() => reject(new WinrmConnectionError(this.url, action, 'ECONNRESET', new Error('response aborted')))),
        );
        res.on('end', () => {
          // Each WWW-Authenticate header separately (Node joins repeated ones with ", ").
          const authenticate = res.rawHeaders.filter(
            (_v, i, a) => i % 2 === 1 && a[i - 1]!.toLowerCase() === 'www-authenticate',
          );
          finish(() =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), authenticate }),
          );
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
