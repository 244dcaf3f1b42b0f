// A workflow input is untrusted: validated before any side effect, a bad one fails the build at once, typed and
// non-retryable, naming every bad field.
import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { parseInput } from '../../src/contracts/validate.js';

export function validateInput<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = parseInput(schema, raw);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(`invalid input: ${parsed.message}`, 'InvalidInput');
  return parsed.value;
}
