// What a worker host offers: the external programs a worker runs (src/host/catalog.ts), with their versions.
import os from 'node:os';
import { TOOLS, WORKER_TOOLS, type ToolSpec } from './catalog.js';
import { findTool, runTool } from './spawn.js';

export interface HostReport {
  hostname: string;
  node: string;
  cpus: number;
  /** Catalog name → version (or "unknown"), null when the program is missing. */
  tools: Record<string, string | null>;
}

async function toolVersion(spec: ToolSpec): Promise<string | null> {
  if (!findTool(spec.command)) return null;
  if (!spec.version) return 'unknown';
  try {
    const { stdout, stderr } = await runTool(spec.command, spec.version.args, { timeout: 10_000 });
    return spec.version.pattern.exec(stdout + stderr)?.[1] ?? 'unknown';
  } catch (err) {
    // Some tools print their version and exit non-zero.
    const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    return spec.version.pattern.exec(out)?.[1] ?? 'unknown';
  }
}

export async function describeHost(): Promise<HostReport> {
  const named = Object.entries(TOOLS).filter(([, spec]) => WORKER_TOOLS.includes(spec));
  const entries = await Promise.all(named.map(async ([name, spec]) => [name, await toolVersion(spec)] as const));
  return {
    hostname: os.hostname(),
    node: process.version,
    cpus: os.availableParallelism(),
    tools: Object.fromEntries(entries),
  };
}
