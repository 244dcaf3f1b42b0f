// What a guest sees in its CD drives: each inserted ISO's volume label (read from the primary volume
// descriptor) and its files (extracted once with xorriso into the guest's folder, read-only from then on).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, rm, stat, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LabCdrom } from '../hostApi.js';
import type { CdDrive } from './machine.js';

const run = promisify(execFile);

/** ISO 9660: the primary volume descriptor is sector 16; its volume identifier is 32 bytes at offset 40. */
export async function readVolumeLabel(isoPath: string): Promise<string> {
  const fh = await open(isoPath, 'r');
  try {
    const buf = Buffer.alloc(72);
    await fh.read(buf, 0, 72, 16 * 2048);
    if (buf[0] !== 1 || buf.subarray(1, 6).toString('ascii') !== 'CD001') return '';
    return buf.subarray(40, 72).toString('ascii').trim();
  } finally {
    await fh.close();
  }
}

async function extract(isoPath: string, dir: string): Promise<void> {
  const marker = path.join(dir, '.extracted-from');
  const st = await stat(isoPath);
  const key = `${isoPath}\n${st.size}\n${st.mtimeMs}`;
  if (existsSync(marker) && (await readFile(marker, 'utf8')) === key) return;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await run('xorriso', ['-osirrox', 'on', '-indev', isoPath, '-extract', '/', dir]);
  await writeFile(marker, key);
}

/** Drive letters D:, E:, … in userdevice order (as Windows assigns them to CD drives after C:). */
export async function mountCdroms(cdroms: readonly LabCdrom[], guestDir: string): Promise<CdDrive[]> {
  const drives: CdDrive[] = [];
  let letter = 'D'.charCodeAt(0);
  for (const cd of cdroms) {
    const current = String.fromCharCode(letter++);
    if (!cd.isoPath) continue;
    const dir = path.join(guestDir, `cd-${cd.userdevice}`);
    await extract(cd.isoPath, dir);
    drives.push({ letter: current, label: await readVolumeLabel(cd.isoPath), dir });
  }
  return drives;
}
