// XAPI failures as XenimageErrors: an API error code becomes the stable type `Xapi<Code>` (SESSION_INVALID →
// XapiSessionInvalid) with its parameters kept; transport failures become XapiConnection. Retryability follows
// what trying again can change: sessions, busy objects, moved masters, storage hiccups, dropped connections yes;
// bad handles, wrong power states, bad input no.
import { errorMessage, XenimageError } from '../errors.js';

/** Codes a retry can get past (a new session, the other operation finishing, the new master, a transient I/O). */
const RETRYABLE = new Set([
  'SESSION_INVALID',
  'OTHER_OPERATION_IN_PROGRESS',
  'HOST_IS_SLAVE',
  'EVENTS_LOST',
  'VDI_IO_ERROR',
  'HOST_OFFLINE',
  'HOST_STILL_BOOTING',
  'HOST_NOT_LIVE',
  'TOO_BUSY',
  'TOO_MANY_PENDING_TASKS',
  'SR_NOT_ATTACHED',
  'VDI_IN_USE',
  'LICENCE_RESTRICTION',
]);

export function isRetryableCode(code: string): boolean {
  return RETRYABLE.has(code) || code.startsWith('SR_BACKEND_FAILURE');
}

/** XAPI code → error type: `Xapi` + the code in PascalCase. */
export function xapiErrorType(code: string): string {
  return (
    'Xapi' +
    code
      .toLowerCase()
      .split('_')
      .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : ''))
      .join('')
  );
}

export class XapiCallError extends XenimageError {
  readonly code: string;
  readonly params: string[];

  constructor(
    code: string,
    params: readonly string[],
    context: { method?: string; cause?: unknown; retryable?: boolean } = {},
  ) {
    const where = context.method ? `${context.method}: ` : '';
    super(xapiErrorType(code), `${where}XAPI error ${code}(${params.join(', ')})`, {
      retryable: context.retryable ?? isRetryableCode(code),
      details: { code, params: [...params], ...(context.method ? { method: context.method } : {}) },
      cause: context.cause,
    });
    this.code = code;
    this.params = [...params];
  }
}

/** The pool could not be reached or the exchange broke off (reset, refused, HTTP 5xx, timeout). */
export class XapiConnectionError extends XenimageError {
  constructor(message: string, cause?: unknown, details: Record<string, unknown> = {}) {
    super('XapiConnection', message, { retryable: true, details, cause });
  }
}

const TRANSPORT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function looksLikeTransport(err: { code?: unknown; message?: unknown; name?: unknown }): boolean {
  if (typeof err.code === 'string' && TRANSPORT_CODES.has(err.code)) return true;
  const msg = typeof err.message === 'string' ? err.message : '';
  return (
    /^unexpect(ed)? (statusCode )?5\d\d$/.test(msg) ||
    /other side closed|socket hang up|terminated|TimeoutError/i.test(msg) ||
    err.name === 'TimeoutError'
  );
}

/** Certificate checks that fail the same way on every attempt: a configuration problem (CA, host name). */
const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

function tlsCode(err: { code?: unknown; cause?: unknown }): string | undefined {
  if (typeof err.code === 'string' && TLS_CODES.has(err.code)) return err.code;
  const cause = err.cause as { code?: unknown } | undefined;
  return typeof cause?.code === 'string' && TLS_CODES.has(cause.code) ? cause.code : undefined;
}

/** The pool speaks only a TLS older than the engine accepts (XAPI_MIN_TLS): the same on every attempt. */
function tlsVersionRefused(err: { message?: unknown; cause?: unknown }): boolean {
  const text = (e: { message?: unknown } | undefined) => (typeof e?.message === 'string' ? e.message : '');
  return [err, err.cause as { message?: unknown } | undefined].some((e) =>
    /alert protocol version|unsupported protocol|wrong version number/i.test(text(e)),
  );
}

/** Anything the xen-api client throws, as a XenimageError that keeps the XAPI code and parameters. */
export function toXapiError(err: unknown, method?: string): XenimageError {
  if (err instanceof XenimageError) return err;
  const e = (err ?? {}) as { code?: unknown; params?: unknown; message?: unknown; name?: unknown; cause?: unknown };
  const tls = tlsCode(e);
  if (tls) {
    return new XenimageError(
      'XapiTlsVerification',
      `the pool's TLS certificate was not accepted (${tls}): give the pool's CA in the pools file (ca:)`,
      { retryable: false, details: { code: tls }, cause: err },
    );
  }
  if (tlsVersionRefused(e)) {
    return new XenimageError(
      'XapiTlsVersion',
      "the pool and the engine share no TLS version: the engine needs TLS 1.2 or newer (the pool's XAPI offers less)",
      { retryable: false, cause: err },
    );
  }
  if (typeof e.code === 'string' && Array.isArray(e.params) && /^[A-Z][A-Z0-9_]*$/.test(e.code)) {
    return new XapiCallError(e.code, e.params.map(String), { method, cause: err });
  }
  if (looksLikeTransport(e) || (e.cause && looksLikeTransport(e.cause as object))) {
    return new XapiConnectionError(
      `${method ? `${method}: ` : ''}connection to XAPI failed: ${errorMessage(err)}`,
      err,
      method ? { method } : {},
    );
  }
  if (e.name === 'Cancel')
    return new XenimageError('XapiTaskCancelled', `${method ? `${method}: ` : ''}the XAPI task was cancelled`, {
      retryable: false,
      cause: err,
    });
  return new XenimageError('XapiUnexpected', `${method ? `${method}: ` : ''}${errorMessage(err)}`, {
    retryable: true,
    cause: err,
  });
}

export function hasXapiCode(err: unknown, code: string): boolean {
  return err instanceof XapiCallError ? err.code === code : (err as { code?: unknown } | null)?.code === code;
}
