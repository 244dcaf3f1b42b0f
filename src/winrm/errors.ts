// Typed WinRM failures. Each carries a stable `type` and whether retrying can help, so activities can decide
// between "poll again", "new shell", "back off" and "give up" without parsing messages.
import { XenimageError } from '../errors.js';
import { FAULT } from './protocol.js';

export interface WinrmErrorDetails extends Record<string, unknown> {
  endpoint?: string;
  wsmanCode?: number;
  subcode?: string;
  httpStatus?: number;
  action?: string;
}

export class WinrmError extends XenimageError {
  declare readonly details: WinrmErrorDetails;
  constructor(type: string, message: string, retryable: boolean, details: WinrmErrorDetails, cause?: unknown) {
    super(type, message, { retryable, details, cause });
  }
}

/** HTTP 401: wrong credentials, Basic disabled, or a filtered token (LocalAccountTokenFilterPolicy). */
export class WinrmAuthError extends WinrmError {
  constructor(endpoint: string, offered: string[]) {
    const basicOffered = offered.some((s) => /^basic/i.test(s));
    super(
      'WinrmAuthFailed',
      `WinRM at ${endpoint} refused the credentials (HTTP 401; server offers ${offered.join(', ') || 'nothing'}` +
        `${basicOffered ? '' : ': Basic auth is not enabled'})`,
      false,
      { endpoint, httpStatus: 401, offered },
    );
  }
}

/** A SOAP fault from the service (HTTP 500), with the WSManFault code when present. */
export class WinrmFaultError extends WinrmError {
  readonly wsmanCode: number | undefined;
  constructor(
    type: string,
    endpoint: string,
    action: string,
    fault: { code?: string; subcode?: string; reason?: string; wsmanCode?: number; message?: string },
    retryable: boolean,
  ) {
    const what = fault.message || fault.reason || 'no reason given';
    super(
      type,
      `WinRM ${action} at ${endpoint} failed: ${what.trim()}` +
        (fault.wsmanCode !== undefined ? ` (WSManFault ${fault.wsmanCode})` : '') +
        (fault.subcode ? ` [${fault.subcode}]` : ''),
      retryable,
      { endpoint, action, wsmanCode: fault.wsmanCode, subcode: fault.subcode, httpStatus: 500 },
    );
    this.wsmanCode = fault.wsmanCode;
  }
}

/** Maps a WSManFault code to the error type and retryability the engine uses. */
export function faultType(wsmanCode: number | undefined): { type: string; retryable: boolean } {
  switch (wsmanCode) {
    case FAULT.operationTimeout:
      return { type: 'WinrmOperationTimeout', retryable: true };
    case FAULT.shellNotFound:
      return { type: 'WinrmShellNotFound', retryable: true };
    case FAULT.quotaMaxShells:
    case FAULT.quotaMaxOperations:
      return { type: 'WinrmQuotaExceeded', retryable: true };
    case FAULT.schemaValidation:
      return { type: 'WinrmProtocolError', retryable: false };
    default:
      return { type: 'WinrmFault', retryable: false };
  }
}

/** The TCP connection failed or broke (VM rebooting, listener not up yet, reset mid-request). */
export class WinrmConnectionError extends WinrmError {
  constructor(endpoint: string, action: string, code: string, cause: unknown) {
    const why =
      code === 'ECONNREFUSED'
        ? 'connection refused (no WinRM listener: not configured yet, or the VM is booting)'
        : code === 'ECONNRESET' || code === 'EPIPE' || code === 'HANGUP'
          ? 'connection lost (the VM rebooted, halted or swapped its NIC)'
          : `network error ${code}`;
    super(
      code === 'ECONNREFUSED' ? 'WinrmUnreachable' : 'WinrmConnectionLost',
      `WinRM ${action} at ${endpoint}: ${why}`,
      true,
      {
        endpoint,
        action,
        errno: code,
      },
      cause,
    );
  }
}

/** No answer within the per-request timeout (OperationTimeout + margin). */
export class WinrmTimeoutError extends WinrmError {
  constructor(endpoint: string, action: string, ms: number) {
    super('WinrmRequestTimeout', `WinRM ${action} at ${endpoint}: no answer within ${ms} ms`, true, {
      endpoint,
      action,
      timeoutMs: ms,
    });
  }
}

/** Something that is not a WS-Management answer (proxy page, wrong RelatesTo, bad XML, unexpected status). */
export class WinrmProtocolError extends WinrmError {
  constructor(endpoint: string, action: string, message: string, details: WinrmErrorDetails = {}) {
    super('WinrmProtocolError', `WinRM ${action} at ${endpoint}: ${message}`, false, { endpoint, action, ...details });
  }
}

/** The server's TLS certificate is not the pinned one / not trusted. */
export class WinrmTlsError extends WinrmError {
  constructor(endpoint: string, message: string, cause?: unknown) {
    super('WinrmTlsFailed', `WinRM at ${endpoint}: ${message}`, false, { endpoint }, cause);
  }
}
