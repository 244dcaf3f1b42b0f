// Activity deps for tests, built from explicit paths (never from this process's environment): the test's own state
// folder, pools file, secrets folder and clouds.yaml. Closed when the test file ends.
import path from 'node:path';
import { openActivityDeps, type OwnedActivityDeps } from '../../activities/index.js';
import { ConfigSchema } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/log.js';
import { onTeardown } from './teardown.js';

export interface TestDepsOptions {
  stateDir: string;
  /** Default <stateDir>/secrets. */
  secretsDir?: string;
  /** Default <stateDir>/pools.yaml. */
  poolsFile?: string;
  cloudsFile?: string;
  /** XENIMAGE_SECRET_<NAME> variables the resolver may read (none by default). */
  env?: Record<string, string>;
  /** Secret scopes of the test's configuration. */
  scopes?: { pool?: string[]; cloud?: string[]; buildInput?: string[] };
  /** Folders inputs may read (default <stateDir>/sources and <stateDir>/samples). */
  sourceDirs?: string[];
  /** Networks input URLs may reach beyond public addresses (e.g. a test's own loopback server). */
  networkAllow?: string[];
  /** The activities' logger (default: errors only); a test that reads the log passes its own. */
  logger?: Logger;
}

export function testDeps(o: TestDepsOptions): OwnedActivityDeps {
  const config = ConfigSchema.parse({
    stateDir: o.stateDir,
    secrets: { dir: o.secretsDir ?? path.join(o.stateDir, 'secrets'), ...(o.scopes ? { scopes: o.scopes } : {}) },
    ...(o.sourceDirs ? { inputs: { sourceDirs: o.sourceDirs } } : {}),
    ...(o.networkAllow ? { network: { allow: o.networkAllow } } : {}),
  });
  const deps = openActivityDeps(config, {
    // Expected activity failures are logged at warn level; tests read outcomes, not logs.
    logger: o.logger ?? createLogger({ level: process.env.XENIMAGE_TEST_LOG_LEVEL ?? 'error' }),
    env: o.env ?? {},
    poolsFile: o.poolsFile ?? path.join(o.stateDir, 'pools.yaml'),
    ...(o.cloudsFile ? { cloudsFile: o.cloudsFile } : {}),
  });
  onTeardown(() => deps.close());
  return deps;
}
