// One error type for the whole engine. `type` is a stable code (it survives minification and becomes the
// Temporal ApplicationFailure type); `retryable` says whether trying again can help. Messages are written for
// operators and must never contain a secret value.

export interface XenimageErrorOptions {
  retryable?: boolean;
  /** Small, secret-free facts that help an operator (names, sizes, codes). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class XenimageError extends Error {
  readonly type: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(type: string, message: string, options: XenimageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = type;
    this.type = type;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** Bad input from an operator or a file: never retryable. */
export class InvalidInputError extends XenimageError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('InvalidInput', message, { retryable: false, details });
  }
}

export function isXenimageError(err: unknown): err is XenimageError {
  return err instanceof XenimageError;
}

/** The message of anything thrown, for logs and wrapping. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A transfer that moved no byte for its stall timeout (tuning.stallTimeout): retryable, the retry starts again. */
export class TransferStalledError extends XenimageError {
  constructor(what: string, stallMs: number) {
    super('TransferStalled', `${what} moved no byte for ${Math.round(stallMs / 1000)} s`, {
      retryable: true,
      details: { stallMs },
    });
  }
}
