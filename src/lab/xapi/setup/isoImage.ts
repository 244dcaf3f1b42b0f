// Real ISO 9660 images for the lab's ISO SRs, made with xorriso (Debian package) so guests can read their files
// and volume label like those of real installation media.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** An `.msi` file's text as an MSI-shaped stand-in: the compound-file signature, then the text (a marker). */
function msiStandIn(text: string): Buffer {
  return Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(504), Buffer.from(text, 'utf8')]);
}

export async function makeIso(target: string, label: string, files: Record<string, string>): Promise<void> {
  const staging = await mkdtemp(path.join(os.tmpdir(), 'xenimage-iso-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(staging, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, /\.msi$/i.test(name) ? msiStandIn(content) : content);
    }
    await mkdir(path.dirname(target), { recursive: true });
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', label, '-J', '-r', '-o', target, staging]);
  } catch (err) {
    throw new Error(`xorriso could not build ${path.basename(target)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
