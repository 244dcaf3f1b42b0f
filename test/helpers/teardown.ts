// File-level teardown for helpers that start things lazily (inside hooks or tests): node:test scopes an
// `after()` called inside a hook to that hook, so helpers register here instead. Importing this module
// registers one root-level `after` that runs every teardown, newest first, when the test file ends.
import { after } from 'node:test';

const teardowns: Array<() => Promise<unknown> | unknown> = [];

after(async () => {
  while (teardowns.length > 0) {
    const fn = teardowns.pop()!;
    try {
      await fn();
    } catch (err) {
      console.error('teardown failed:', err);
    }
  }
});

export function onTeardown(fn: () => Promise<unknown> | unknown): void {
  teardowns.push(fn);
}
