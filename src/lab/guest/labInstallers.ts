// Installer files for lab builds: MSI-shaped stand-ins (OLE compound-file signature, a product marker, seeded
// filler) for the XenServer VM Tools and cloudbase-init, with the SHA-256 a build input pins them by.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InstallerSource } from '../../contracts/installerSource.js';

const CFB_SIGNATURE = Buffer.from('d0cf11e0a1b11ae1', 'hex');

function fakeMsi(product: string, size: number): Buffer {
  const body = Buffer.alloc(size);
  CFB_SIGNATURE.copy(body, 0);
  Buffer.from(`xenimage-lab ${product}`, 'ascii').copy(body, 512);
  let block = createHash('sha256').update(product).digest();
  for (let off = 1024; off < size; off += 32) {
    block.copy(body, off, 0, Math.min(32, size - off));
    block = createHash('sha256').update(block).digest();
  }
  return body;
}

export async function writeLabInstallers(
  dir: string,
): Promise<{ pvTools: InstallerSource; cloudbaseInit: InstallerSource }> {
  await mkdir(dir, { recursive: true });
  const write = async (name: string, product: string, size: number): Promise<InstallerSource> => {
    const data = fakeMsi(product, size);
    const file = path.resolve(dir, name);
    await writeFile(file, data);
    return { path: file, sha256: createHash('sha256').update(data).digest('hex') };
  };
  return {
    pvTools: await write('managementagentx64.msi', 'XenServer VM Tools 9.4.0', 256 * 1024),
    cloudbaseInit: await write('CloudbaseInitSetup_Stable_x64.msi', 'Cloudbase-Init 1.1.6', 192 * 1024),
  };
}
