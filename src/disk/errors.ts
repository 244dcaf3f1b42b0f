// Typed failures of the data path. Every one is a XenimageError with a stable `type`; bad or hostile input is
// never retryable, a flaky network source is.
import { XenimageError, type XenimageErrorOptions } from '../errors.js';

/** The image uses a feature or format xenimage does not convert (encryption, backing file, differencing…). */
export class DiskFormatUnsupportedError extends XenimageError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('DiskFormatUnsupported', message, { retryable: false, details });
  }
}

/** The image's own structures are inconsistent: truncated, tables outside the file, overlaps, bad checksums. */
export class DiskCorruptError extends XenimageError {
  constructor(message: string, details?: Record<string, unknown>, cause?: unknown) {
    super('DiskCorrupt', message, { retryable: false, details, cause });
  }
}

/** The source could not be read (network, HTTP status, I/O). `retryable` says whether trying again can help. */
export class DiskSourceError extends XenimageError {
  constructor(type: DiskSourceErrorType, message: string, options: XenimageErrorOptions = {}) {
    super(type, message, options);
  }
}

export type DiskSourceErrorType =
  | 'DiskSourceUnavailable' // network error, 5xx, timeout: retryable
  | 'DiskSourceNotFound' // 404/410, missing file: not retryable
  | 'DiskSourceDenied' // 401/403, unreadable file: not retryable
  | 'DiskSourceRangeUnsupported' // HTTP server ignores Range: not retryable
  | 'DiskSourceChanged'; // ETag/size changed while reading: retryable (a new attempt reads one version)

/** qemu-img (the bridge for foreign formats) is missing or failed. */
export class DiskToolError extends XenimageError {
  constructor(message: string, options: XenimageErrorOptions = {}) {
    super('DiskToolFailed', message, options);
  }
}

/** A produced image (tap VHD, .tgz) fails verification. */
export class ImageInvalidError extends XenimageError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('ImageInvalid', message, { retryable: false, details });
  }
}
