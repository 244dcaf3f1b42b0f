// HTTP for the OpenStack client: undici's fetch with a dispatcher that carries the cloud's TLS settings
// (`verify`, `cacert`), which Node's global fetch cannot take. Connection failures become one typed,
// retryable error; an abort stays an abort.
import { readFileSync } from 'node:fs';
import { Agent, fetch, type RequestInit, type Response } from 'undici';
import { XenimageError, errorMessage } from '../errors.js';
import { CloudConfigError } from './errors.js';

export interface TlsOptions {
  /** false = do not verify the server certificate (clouds.yaml `verify: false`). */
  verify?: boolean;
  /** PEM bundle of trusted CAs (clouds.yaml `cacert`). */
  cacert?: string;
}

export interface Transport {
  fetch(url: string, init: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** Raised when the server could not be reached or the connection broke; the caller may retry. */
export class OpenStackUnreachableError extends XenimageError {
  constructor(url: string, cause: unknown) {
    const reason = cause instanceof Error && cause.cause instanceof Error ? cause.cause.message : errorMessage(cause);
    super('OpenStackUnreachable', `cannot reach ${new URL(url).origin}: ${reason}`, { retryable: true, cause });
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

export function createTransport(tls: TlsOptions = {}, timeouts: { bodyTimeoutMs?: number } = {}): Transport {
  let ca: string | undefined;
  if (tls.cacert) {
    try {
      ca = readFileSync(tls.cacert, 'utf8');
    } catch (err) {
      throw new CloudConfigError('CloudConfigInvalid', `cacert ${tls.cacert} cannot be read: ${errorMessage(err)}`);
    }
  }
  const agent = new Agent({
    connect: { rejectUnauthorized: tls.verify !== false, ...(ca ? { ca } : {}) },
    // bodyTimeout is the silence allowed between response bytes (a download's stall timeout). headersTimeout
    // would run during a long upload (undici refreshes it only under backpressure), so the upload's own
    // inactivity timer bounds the request body instead (publish.ts), and the caller's AbortSignal the rest.
    bodyTimeout: timeouts.bodyTimeoutMs ?? 0,
    headersTimeout: 0,
  });
  return {
    async fetch(url, init) {
      try {
        return await fetch(url, { ...init, dispatcher: agent });
      } catch (err) {
        if (isAbortError(err) || init.signal?.aborted) throw err;
        throw new OpenStackUnreachableError(url, err);
      }
    },
    close: () => agent.close(),
  };
}
