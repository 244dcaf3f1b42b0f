// What a worker host offers: the external tools the data path and answer media need, with their versions.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

const TOOLS: Record<string, { command: string; args: string[]; pattern: RegExp }> = {
  qemuImg: { command: 'qemu-img', args: ['--version'], pattern: /version ([\d.]+)/ },
  vhdiinfo: { command: 'vhdiinfo', args: ['-V'], pattern: /vhdiinfo (\d+)/ },
  xorriso: { command: 'xorriso', args: ['-version'], pattern: /xorriso ([\d.]+)/ },
  pigz: { command: 'pigz', args: ['--version'], pattern: /pigz ([\d.]+)/ },
};

export interface HostReport {
  hostname: string;
  node: string;
  cpus: number;
  tools: Record<string, string | null>;
}

async function toolVersion(spec: { command: string; args: string[]; pattern: RegExp }): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(spec.command, spec.args, { timeout: 10_000 });
    return spec.pattern.exec(stdout + stderr)?.[1] ?? 'unknown';
  } catch (err) {
    // Some tools print their version and exit non-zero.
    const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : (spec.pattern.exec(out)?.[1] ?? null);
  }
}

export async function describeHost(): Promise<HostReport> {
  const entries = await Promise.all(
    Object.entries(TOOLS).map(async ([name, spec]) => [name, await toolVersion(spec)] as const),
  );
  return {
    hostname: os.hostname(),
    node: process.version,
    cpus: os.availableParallelism(),
    tools: Object.fromEntries(entries),
  };
}
