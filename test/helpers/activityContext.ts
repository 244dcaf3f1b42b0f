// Calling activities outside a worker: inside Temporal's mock activity context, with their typed failures.
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';

/** Runs `fn` as an activity would run (heartbeats and cancellation have a context). */
export function run<T>(fn: () => Promise<T>): Promise<T> {
  return new MockActivityEnvironment({ activityType: 'test' }).run(fn);
}

/** The ApplicationFailure `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the activity to fail');
}
