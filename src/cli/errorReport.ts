// How a failed command is reported: one line (type and message) and an exit code. Temporal's transport
// errors (gRPC statuses, TLS refusals) become typed messages instead of stack-like texts.
import { errorMessage, isXenimageError } from '../errors.js';
import { classifyTemporalError } from '../temporal/connectionErrors.js';

export interface ErrorReport {
  type?: string;
  message: string;
  exitCode: number;
}

export function describeError(err: unknown): ErrorReport {
  const known = isXenimageError(err) ? err : classifyTemporalError(err);
  if (known) return { type: known.type, message: known.message, exitCode: known.type === 'InvalidInput' ? 2 : 1 };
  // gRPC failures wrap the server's words ("3 INVALID_ARGUMENT: …") in a cause.
  const cause = (err as { cause?: unknown })?.cause;
  const detail = cause ? errorMessage(cause) : '';
  return { message: detail ? `${errorMessage(err)}: ${detail}` : errorMessage(err), exitCode: 1 };
}
