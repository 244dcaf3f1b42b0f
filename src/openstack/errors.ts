// Typed failures of the OpenStack client. Each has a stable `type` and the retryability the reference gives
// (docs/reference/glance.md §4: 4xx permanent, 408/5xx retryable). Messages name fields and URLs, never secrets.
import { XenimageError, type XenimageErrorOptions } from '../errors.js';

/** clouds.yaml problems: a missing cloud, file or field. Never retryable. */
export class CloudConfigError extends XenimageError {
  constructor(
    type: 'CloudNotFound' | 'CloudConfigInvalid' | 'CloudPlainHttpRefused',
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(type, message, { retryable: false, details });
  }
}

/** Keystone refused or could not be reached. */
export class KeystoneError extends XenimageError {
  constructor(type: string, message: string, options: XenimageErrorOptions) {
    super(type, message, options);
  }
}

/** A Glance API call failed with an HTTP status (or not at all: network). */
export class GlanceError extends XenimageError {
  readonly status: number | undefined;
  constructor(type: string, message: string, status: number | undefined, options: XenimageErrorOptions) {
    super(type, message, { ...options, details: { ...options.details, ...(status === undefined ? {} : { status }) } });
    this.status = status;
  }
}

/** Glance's type for each status; statuses not listed fall back to the 4xx/5xx rule. */
const GLANCE_TYPES: Record<number, string> = {
  400: 'GlanceBadRequest',
  401: 'GlanceUnauthorized',
  403: 'GlanceForbidden',
  404: 'GlanceImageNotFound',
  408: 'GlanceTimeout',
  409: 'GlanceConflict',
  410: 'GlanceImageGone',
  411: 'GlanceLengthRequired',
  413: 'GlanceQuotaExceeded',
  415: 'GlanceUnsupportedMediaType',
  503: 'GlanceUnavailable',
};

/** Permanent per the os-xenapi/nova taxonomy: 4xx except 408, and 501/505/510. Everything else retries. */
export function isRetryableStatus(status: number): boolean {
  if (status === 408) return true;
  if (status >= 400 && status < 500) return false;
  return ![501, 505, 510].includes(status);
}

export function glanceHttpError(status: number, what: string, serverMessage: string): GlanceError {
  const type = GLANCE_TYPES[status] ?? (status >= 500 ? 'GlanceServerError' : 'GlanceRequestRefused');
  const detail = serverMessage ? `: ${serverMessage}` : '';
  return new GlanceError(type, `Glance ${what} failed with HTTP ${status}${detail}`, status, {
    retryable: isRetryableStatus(status),
  });
}

/** The image Glance holds differs from what was sent (size, MD5 or os_hash). Retrying re-streams the data. */
export class ImageVerificationError extends XenimageError {
  constructor(message: string, details: Record<string, unknown>, retryable = true) {
    super(retryable ? 'ImageVerificationFailed' : 'ImageHashNotComputed', message, { retryable, details });
  }
}
