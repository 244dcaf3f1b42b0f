// What a vmdk would make qemu-img open, checked before qemu-img runs: its descriptor (a text file, or embedded in a
// monolithic sparse file) is parsed by the project, and every extent must be a regular file beside it (no link, no
// folder, no protocol such as nbd:), with no parent image. Decision: docs/decisions/disk-0002-qemu-img-bridge.md.
import { lstat, open } from 'node:fs/promises';
import path from 'node:path';
import { DiskCorruptError, DiskFormatUnsupportedError } from './errors.js';
import { MAX_DESCRIPTOR_BYTES, parseVmdkDescriptor, type VmdkDescriptor } from './vmdkDescriptor.js';

const TEXT_MAGIC = '# Disk DescriptorFile';
/** Raw device mappings read a host device: never. */
const DEVICE_EXTENTS = new Set(['VMFSRDM', 'VMFSRAW']);

/** The descriptor of a vmdk file: the file itself when it is text, the embedded one of a KDMV sparse file. */
export async function readVmdkDescriptor(
  file: string,
  label = file,
): Promise<{ descriptor: VmdkDescriptor; embedded: boolean } | undefined> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 512));
    await fh.read(head, 0, head.length, 0);
    if (head.subarray(0, TEXT_MAGIC.length).toString('latin1') === TEXT_MAGIC) {
      if (size > MAX_DESCRIPTOR_BYTES) throw new DiskCorruptError(`${label}: vmdk descriptor too large`);
      const text = Buffer.alloc(size);
      await fh.read(text, 0, size, 0);
      return { descriptor: parseVmdkDescriptor(text.toString('latin1'), label), embedded: false };
    }
    const magic = head.subarray(0, 4).toString('latin1');
    if (magic === 'COWD') throw new DiskFormatUnsupportedError(`${label}: ESX COWD vmdk images are not supported`);
    if (magic !== 'KDMV' || head.length < 44) throw new DiskCorruptError(`${label}: not a vmdk image`);
    const offset = head.readBigUInt64LE(28) * 512n;
    const length = head.readBigUInt64LE(36) * 512n;
    if (offset === 0n || length === 0n) return undefined; // no embedded descriptor: one file
    if (length > BigInt(MAX_DESCRIPTOR_BYTES) || offset + length > BigInt(size))
      throw new DiskCorruptError(`${label}: vmdk embedded descriptor lies outside the file`);
    const text = Buffer.alloc(Number(length));
    await fh.read(text, 0, text.length, Number(offset));
    return { descriptor: parseVmdkDescriptor(text.toString('latin1'), label), embedded: true };
  } finally {
    await fh.close();
  }
}

/** Refuses a vmdk whose descriptor reaches beyond its own folder, a device or a parent image. */
export async function checkVmdk(file: string, label = file): Promise<void> {
  const read = await readVmdkDescriptor(file, label);
  if (!read) return;
  const { descriptor, embedded } = read;
  if (descriptor.parentCid !== 'ffffffff' || descriptor.parentFileNameHint !== undefined) {
    throw new DiskFormatUnsupportedError(
      `${label}: vmdk image has a parent; convert the whole chain into one image first`,
    );
  }
  // A monolithic sparse file is its own only extent (qemu reads no file its embedded descriptor names).
  if (embedded) return;
  const dir = path.dirname(path.resolve(file));
  for (const extent of descriptor.extents) {
    if (DEVICE_EXTENTS.has(extent.type))
      throw new DiskFormatUnsupportedError(`${label}: vmdk ${extent.type} extents map a device: not supported`);
    if (extent.file === undefined) continue; // ZERO
    const name = extent.file;
    if (name === '' || name !== path.basename(name) || name.includes('\\') || name.includes(':') || name === '..') {
      throw new DiskFormatUnsupportedError(
        `${label}: vmdk extent "${name}" keeps data in other files than those beside the descriptor`,
        { extent: name },
      );
    }
    const st = await lstat(path.join(dir, name)).catch(() => undefined);
    if (!st?.isFile()) {
      throw new DiskFormatUnsupportedError(
        `${label}: vmdk extent "${name}" is not a regular file beside the descriptor (missing, a link or a device)`,
        { extent: name },
      );
    }
  }
}
