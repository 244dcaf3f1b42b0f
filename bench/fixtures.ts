// Benchmark fixtures, made in a temporary directory and removed afterwards: a 4 GiB qcow2 holding 1 GiB of
// random data in 256 × 4 MiB extents (the reference fixture of docs/reference/disks.md §4), and sparse qcow2 disks with
// compressible data for the memory runs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
const execFileAsync = promisify(execFile);

export async function sh(cmd: string): Promise<string> {
  const { stdout } = await execFileAsync('sh', ['-c', cmd], { maxBuffer: 16 * MiB });
  return stdout;
}

/** A sparse raw file with `extents` extents of `extentSize` bytes spread evenly, then converted to qcow2. */
export async function makeQcow2(
  rawPath: string,
  qcow2Path: string,
  virtualSize: number,
  extents: number,
  extentSize: number,
  random: boolean,
): Promise<void> {
  const fh = await open(rawPath, 'w');
  try {
    await fh.truncate(virtualSize);
    const pool = random
      ? randomBytes(extentSize + MiB)
      : Buffer.alloc(extentSize + MiB).fill('xenimage benchmark line: compressible text for the memory runs.\n');
    const stride = Math.floor(virtualSize / extents / MiB) * MiB;
    for (let i = 0; i < extents; i++) {
      // A different window of the pool per extent: no two extents are equal.
      const from = (i * 4099) % MiB;
      await fh.write(pool, from, extentSize, i * stride);
    }
  } finally {
    await fh.close();
  }
  await sh(`qemu-img convert -O qcow2 '${rawPath}' '${qcow2Path}' && rm -f '${rawPath}'`);
}
