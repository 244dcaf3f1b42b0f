// A time-skipping Temporal for workflow branch tests (docs/decisions/tests-0001-time-skipping-test-server.md):
// `TestWorkflowEnvironment.createTimeSkipping()` downloads a GraalVM test server from temporal.download, which
// this machine cannot reach, so it runs the same server from its Java build, io.temporal:temporal-test-server of
// Maven Central, fetched once with Maven into $XDG_CACHE_HOME/xenimage/test-server/<version>.
import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
// Not re-exported from the package index in 1.24 (as in src/temporal/searchAttributes.ts).
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { SEARCH_ATTRIBUTES } from '../../src/contracts/searchAttributes.js';
import { createLogger } from '../../src/log.js';
import { installRuntime } from '../../src/temporal/runtime.js';
import type { TemporalTarget } from '../../src/temporal/connection.js';
import { onTeardown } from './teardown.js';

const run = promisify(execFile);

export const TEST_SERVER_VERSION = '1.38.0';

function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'xenimage', 'test-server');
}

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>xenimage</groupId><artifactId>temporal-test-server-fetch</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version>
    </dependency>
    <!-- The server logs through SLF4J: without a binding it warns on every start. -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
`;

/** The launcher of the test server (`<launcher> <port> --enable-time-skipping`), fetched with Maven when missing. */
export async function testServerLauncher(): Promise<string> {
  const home = path.join(cacheDir(), TEST_SERVER_VERSION);
  const launcher = path.join(home, 'temporal-test-server');
  try {
    await access(launcher);
    return launcher;
  } catch {
    // fetched below
  }
  await mkdir(cacheDir(), { recursive: true });
  const work = await mkdtemp(path.join(cacheDir(), `.fetch-${TEST_SERVER_VERSION}-`));
  try {
    await writeFile(path.join(work, 'pom.xml'), POM);
    await run(
      'mvn',
      [
        '-q',
        '-B',
        `-Dmaven.repo.local=${path.join(cacheDir(), 'm2')}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${path.join(work, 'lib')}`,
      ],
      { cwd: work, timeout: 600_000 },
    ).catch((err: Error & { stderr?: string; stdout?: string }) => {
      throw new Error(
        `fetching io.temporal:temporal-test-server:${TEST_SERVER_VERSION} with Maven failed (needs mvn, Java 17 and ` +
          `Maven Central): ${(err.stdout ?? '') + (err.stderr ?? '') || err.message}`,
      );
    });
    const script =
      '#!/bin/sh\n' +
      `exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "${path.join(home, 'lib')}/*" ` +
      'io.temporal.testserver.TestServer "$@"\n';
    await writeFile(path.join(work, 'temporal-test-server'), script);
    await chmod(path.join(work, 'temporal-test-server'), 0o755);
    // Another test process may have finished first: its copy is as good as this one.
    await rename(work, home).catch(() => undefined);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await access(launcher);
  return launcher;
}

export interface TimeSkipping {
  env: TestWorkflowEnvironment;
  /** Where workers connect (fakes.ts's fakeWorld takes it). */
  target: TemporalTarget;
}

/**
 * A time-skipping test server of this test file's own, with the build's search attributes, torn down when the
 * file ends. Time skips only while a test awaits `result()` of a handle from `env.client` (or `env.sleep`); one
 * clock for the whole server, so the file's tests run one after the other.
 */
export async function startTimeSkipping(): Promise<TimeSkipping> {
  // The Temporal runtime is a process singleton: the environment would otherwise create a default one first.
  // Its level as test/helpers/worker.ts sets it: expected activity failures are logged at warn.
  installRuntime(createLogger({ level: process.env.XENIMAGE_TEST_LOG_LEVEL ?? 'error' }));
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: await testServerLauncher() } },
  });
  onTeardown(() => env.teardown());
  // The test server implements AddSearchAttributes but not ListSearchAttributes.
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTES.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!]),
    ),
  });
  return { env, target: { address: env.address, namespace: 'default' } };
}
