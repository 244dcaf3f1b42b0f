// Finds or builds the Temporal CLI (which carries the dev server). v1.5.1 is the last tag `go install` can
// build (later go.mod files have a replace directive), so a missing CLI is built from that tag into a cache.
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XenimageError } from '../errors.js';
import { findTool, runTool, spawnTool } from '../host/spawn.js';
import type { Logger } from '../log.js';

export const TEMPORAL_CLI_VERSION = '1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

export function cacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'xenimage', 'bin');
}

/** Parses `temporal version 1.5.1 (Server …)`; null when the output is not the CLI's. */
export function parseCliVersion(output: string): [number, number, number] | null {
  const m = /temporal version (\d+)\.(\d+)\.(\d+)/.exec(output);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function atLeast(v: [number, number, number], min: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

async function versionOf(binary: string): Promise<[number, number, number] | null> {
  try {
    const { stdout } = await runTool(binary, ['--version'], { timeout: 20_000 });
    return parseCliVersion(stdout);
  } catch {
    return null;
  }
}

export class TemporalCliMissingError extends XenimageError {
  constructor(message: string) {
    super('TemporalCliMissing', message, { retryable: false });
  }
}

/** Builds the CLI with `go install`, printing a progress line while it runs. */
async function goInstall(binDir: string, logger: Logger, env: NodeJS.ProcessEnv): Promise<void> {
  const go = findTool('go', env);
  if (!go) {
    throw new TemporalCliMissingError(
      `the Temporal CLI is not installed and Go is missing to build it: install Go >= 1.25 (https://go.dev/dl/) ` +
        `or put temporal >= 1.5 on PATH, or set TEMPORAL_ADDRESS to use an existing Temporal cluster`,
    );
  }
  await mkdir(binDir, { recursive: true });
  const started = Date.now();
  logger.info(
    { module: `${MODULE}@v${TEMPORAL_CLI_VERSION}`, binDir },
    'building the Temporal CLI once (takes minutes)',
  );
  const child = spawnTool(
    go,
    [
      'install',
      '-ldflags',
      `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      `${MODULE}@v${TEMPORAL_CLI_VERSION}`,
    ],
    { env: { ...env, CGO_ENABLED: '0', GOBIN: binDir }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderrTail = '';
  let modules = 0;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
    modules += chunk.split('go: downloading').length - 1;
  });
  const tick = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    if (process.stderr.isTTY)
      process.stderr.write(`\rbuilding temporal CLI: ${secs}s, ${modules} modules downloaded   `);
    else if (secs % 30 < 5) logger.info({ seconds: secs, modules }, 'still building the Temporal CLI');
  }, 5000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  }).finally(() => clearInterval(tick));
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (code !== 0) {
    throw new TemporalCliMissingError(
      `go install of the Temporal CLI failed (exit ${code}): ${stderrTail.trim().split('\n').slice(-5).join(' | ')}`,
    );
  }
  logger.info({ seconds: Math.round((Date.now() - started) / 1000) }, 'Temporal CLI built');
}

/** Path of a usable `temporal` binary: PATH if it is >= 1.5, else the cache, else built into the cache. */
export async function ensureTemporalCli(logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromPath = findTool('temporal', env);
  if (fromPath) {
    const v = await versionOf(fromPath);
    if (v && atLeast(v, [1, 5, 0])) return fromPath;
    logger.warn(
      { path: fromPath, version: v?.join('.') ?? 'unknown' },
      'temporal on PATH is older than 1.5; using the cached build',
    );
  }
  const cached = path.join(cacheBinDir(env), 'temporal');
  if (await versionOf(cached)) return cached;
  await goInstall(cacheBinDir(env), logger, env);
  if (!(await versionOf(cached))) throw new TemporalCliMissingError(`go install finished but ${cached} does not run`);
  return cached;
}
