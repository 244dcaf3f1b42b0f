// Temporal connection failures in words an operator can act on. The client (grpc-js) and the worker (Rust core)
// report a refused client certificate, an untrusted server certificate or a name mismatch in different forms;
// each becomes a typed XenimageError naming the address and the setting to check. Light on purpose: the CLI's
// error path loads it without loading the Temporal SDK.
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP } from 'node:net';
import { XenimageError, errorMessage } from '../errors.js';

/** What the classifier may know about the connection that failed. */
export interface ConnectionContext {
  address: string;
  tls?: { cert?: string; key?: string; ca?: string; serverName?: string } | undefined;
}

export class TemporalConnectionError extends XenimageError {
  constructor(type: string, message: string, retryable: boolean, cause: unknown) {
    super(type, message, { retryable, cause });
  }
}

/** Every message in the error and its causes (gRPC details included), for matching. */
function texts(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    parts.push(errorMessage(e));
    const details = (e as { details?: unknown }).details;
    if (typeof details === 'string') parts.push(details);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(' | ');
}

function tlsSettings(ctx: ConnectionContext | undefined): boolean | undefined {
  if (!ctx) return undefined;
  return Boolean(ctx.tls?.cert || ctx.tls?.key || ctx.tls?.ca || ctx.tls?.serverName);
}

/**
 * A typed error for a Temporal connection failure, or undefined when `err` is not one. `ctx` (the address and
 * TLS settings used) makes the message precise; without it the message names the settings to check.
 */
export function classifyTemporalError(err: unknown, ctx?: ConnectionContext): XenimageError | undefined {
  if (err instanceof XenimageError) return err;
  const text = texts(err);
  const where = ctx ? `Temporal at ${ctx.address}` : 'Temporal (TEMPORAL_ADDRESS)';
  const fail = (type: string, message: string, retryable = false) =>
    new TemporalConnectionError(type, `${where} ${message}`, retryable, err);

  // A TLS front that demands client certificates (nginx `ssl_verify_client on`, an ingress, a load balancer)
  // finishes the handshake and answers HTTP 400 when the certificate is missing or not trusted.
  if (/HTTP status code 400|status: 400 Bad Request/.test(text)) {
    const cert = ctx?.tls?.cert;
    const why =
      ctx === undefined
        ? 'no client certificate was sent, or the one sent (TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY) is not signed by a CA it trusts or has expired'
        : cert
          ? `the client certificate ${cert} is not signed by a CA it trusts, or has expired or been revoked`
          : 'it demands a client certificate and none was sent: set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY';
    return fail('TemporalClientCertificateRejected', `refused this client (HTTP 400 from its TLS front): ${why}`);
  }
  if (/NotValidForName|does not match certificate|altnames|certificate is not valid for/i.test(text)) {
    return fail(
      'TemporalServerNameMismatch',
      `presented a certificate that does not name this address: set TEMPORAL_TLS_SERVER_NAME to the name in the server's certificate, or connect by that name`,
    );
  }
  if (
    /UnknownIssuer|self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer/i.test(
      text,
    )
  ) {
    return fail(
      'TemporalServerCertificateUntrusted',
      `presented a certificate this client does not trust: set TEMPORAL_TLS_CA to the CA certificate that signed it`,
    );
  }
  if (/certificate has expired|CertExpired/i.test(text)) {
    return fail('TemporalServerCertificateExpired', `presented an expired certificate`);
  }
  if (
    /wrong version number|InvalidContentType|CorruptMessage|packet length too long|http2 error|frame with invalid size/i.test(
      text,
    )
  ) {
    return fail(
      'TemporalTlsMismatch',
      ctx === undefined
        ? 'does not speak what the TLS settings (TEMPORAL_TLS_*) say: TLS on one side only'
        : tlsSettings(ctx)
          ? 'does not speak TLS on this port, but this client does (TEMPORAL_TLS_* set)'
          : 'speaks TLS on this port, but this client does not: set TEMPORAL_TLS_CA (and TEMPORAL_TLS_CERT / _KEY for mTLS)',
    );
  }
  if (/ECONNREFUSED|Connection refused|ENOTFOUND|EHOSTUNREACH|No connection established|14 UNAVAILABLE/i.test(text)) {
    return fail('TemporalUnavailable', `cannot be reached: ${text.split(' | ').pop()}`, true);
  }
  return undefined;
}

function hostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(.*):(\d+)$/.exec(address);
  return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
}

function once<T>(timeoutMs: number, start: (done: (value: T) => void) => () => void, onTimeout: T): Promise<T> {
  return new Promise((resolve) => {
    let cleanup: () => void = () => undefined;
    const timer = setTimeout(() => finish(onTimeout), timeoutMs);
    const finish = (value: T) => {
      clearTimeout(timer);
      cleanup();
      resolve(value);
    };
    cleanup = start(finish);
  });
}

/**
 * Why a connection to `ctx.address` fails, found with a TCP connect and a TLS handshake using the same settings
 * (grpc-js reports only "Failed to connect before the deadline"); undefined when nothing is wrong at that level.
 */
export type ProbeResult =
  { kind: 'unreachable'; reason: string } | { kind: 'tls-failed'; reason: string } | { kind: 'speaks-tls' } | undefined;

export async function probeEndpoint(ctx: ConnectionContext, timeoutMs = 5000): Promise<ProbeResult> {
  const hp = hostPort(ctx.address);
  if (!hp) return undefined;
  const tcp = await once<string | undefined>(
    timeoutMs,
    (done) => {
      const socket = netConnect(hp.port, hp.host);
      socket.once('connect', () => done(undefined));
      socket.once('error', (err) => done(err.message));
      return () => socket.destroy();
    },
    `no TCP connection within ${timeoutMs / 1000}s`,
  );
  if (tcp) return { kind: 'unreachable', reason: tcp };
  const read = async (file?: string) => (file ? readFile(file) : undefined);
  const [ca, cert, key] = await Promise.all([read(ctx.tls?.ca), read(ctx.tls?.cert), read(ctx.tls?.key)]);
  const useTls = tlsSettings(ctx);
  const servername = ctx.tls?.serverName ?? (isIP(hp.host) ? undefined : hp.host);
  const handshake = await once<string | undefined>(
    timeoutMs,
    (done) => {
      const socket = tlsConnect({
        host: hp.host,
        port: hp.port,
        ca,
        cert,
        key,
        servername,
        ALPNProtocols: ['h2'],
        // Without TLS settings the question is only whether the port speaks TLS at all.
        rejectUnauthorized: useTls,
      });
      socket.once('secureConnect', () => done(undefined));
      socket.once('error', (err) => done(err.message));
      return () => socket.destroy();
    },
    `no TLS handshake within ${timeoutMs / 1000}s`,
  );
  if (useTls) return handshake === undefined ? undefined : { kind: 'tls-failed', reason: handshake };
  return handshake === undefined ? { kind: 'speaks-tls' } : undefined;
}
