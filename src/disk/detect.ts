// Format detection by magic bytes. qcow2 and VHD are read natively; the other known magics are formats the
// qemu-img bridge converts; what a file without a known header is, src/disk/formatProof.ts decides.
import type { NativeFormat } from './reader.js';

export type Detected =
  | { kind: 'native'; format: Exclude<NativeFormat, 'raw'> }
  | { kind: 'foreign'; format: string }
  | { kind: 'encrypted'; format: string }
  | { kind: 'unknown' };

function at(buf: Buffer, offset: number, magic: string | Buffer): boolean {
  const m = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : magic;
  return buf.length >= offset + m.length && buf.subarray(offset, offset + m.length).equals(m);
}

/** `head`: the first bytes of the file (≥ 512 if it has them); `tail`: its last 512 bytes. */
export function detectFormat(head: Buffer, tail: Buffer): Detected {
  if (at(head, 0, 'QFI\xfb')) {
    const version = head.length >= 8 ? head.readUInt32BE(4) : 0;
    return version === 1 ? { kind: 'foreign', format: 'qcow' } : { kind: 'native', format: 'qcow2' };
  }
  if (at(head, 0, 'conectix') || (tail.length === 512 && at(tail, 0, 'conectix')))
    return { kind: 'native', format: 'vhd' };
  if (at(head, 0, 'LUKS\xba\xbe')) return { kind: 'encrypted', format: 'luks' };
  if (at(head, 0, 'KDMV') || at(head, 0, 'COWD') || at(head, 0, '# Disk DescriptorFile'))
    return { kind: 'foreign', format: 'vmdk' };
  if (at(head, 0, 'vhdxfile')) return { kind: 'foreign', format: 'vhdx' };
  if (at(head, 0x40, Buffer.from([0x7f, 0x10, 0xda, 0xbe]))) return { kind: 'foreign', format: 'vdi' };
  if (at(head, 0, 'QED\0')) return { kind: 'foreign', format: 'qed' };
  if (at(head, 0, 'WithoutFreeSpace') || at(head, 0, 'WithouFreSpacExt'))
    return { kind: 'foreign', format: 'parallels' };
  if (at(head, 0, 'Bochs Virtual HD Image')) return { kind: 'foreign', format: 'bochs' };
  if (at(head, 0, '#!/bin/sh\n#V2.0 Format')) return { kind: 'foreign', format: 'cloop' };
  if (tail.length === 512 && at(tail, 0, 'koly')) return { kind: 'foreign', format: 'dmg' };
  return { kind: 'unknown' };
}
