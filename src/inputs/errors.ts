// The one error of input policy: a workflow input named something it may not read or reach. Never retryable
// (the same input is refused again), and its message names the input as the operator wrote it, without
// credentials or query strings.
import { XenimageError } from '../errors.js';

export type InputRefusal =
  | 'outside source folders'
  | 'protected path'
  | 'not a regular file'
  | 'too large'
  | 'missing'
  | 'url credentials'
  | 'url scheme'
  | 'address not allowed'
  | 'insecure redirect'
  | 'too many redirects'
  | 'format mismatch'
  | 'raw not declared'
  | 'foreign extent';

export class InputRefusedError extends XenimageError {
  constructor(reason: InputRefusal, message: string, details: Record<string, unknown> = {}) {
    super('InputRefused', message, { retryable: false, details: { reason, ...details } });
  }
}
