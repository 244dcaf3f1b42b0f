// What actually went wrong: the failure at the bottom of a chain of activity failures, in words an operator reads
// (step notes, warnings, kept-leftovers messages).
import { ActivityFailure } from '@temporalio/workflow';

export function rootCause(err: unknown): unknown {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause;
}

/** The root cause's message, at most 300 characters. */
export function failureText(err: unknown): string {
  const root = rootCause(err);
  return (root instanceof Error ? root.message : String(root)).slice(0, 300);
}
