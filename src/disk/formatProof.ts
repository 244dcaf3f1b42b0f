// A source's format is proven, not assumed: the header decides, and what the input declares (its `format` or its
// name's extension) must agree with it. Raw — the one format without a header — is taken only when declared
// (`format: "raw"` or a raw extension) and only in whole sectors. Nothing is probed by qemu-img.
// Decision: docs/decisions/inputs-0001-where-inputs-may-read-and-connect.md.
import path from 'node:path';
import { InputRefusedError } from '../inputs/errors.js';
import type { Detected } from './detect.js';
import { DiskFormatUnsupportedError } from './errors.js';

/** Extensions that claim a format with a header: a file so named must carry that header. */
const CLAIMING_EXTENSIONS: Record<string, string> = {
  '.qcow2': 'qcow2',
  '.qcow': 'qcow2',
  '.vhd': 'vhd',
  '.vpc': 'vhd',
  '.vmdk': 'vmdk',
  '.vhdx': 'vhdx',
  '.vdi': 'vdi',
  '.qed': 'qed',
  '.raw': 'raw',
};
/** Extensions under which a headerless file is read as raw (cloud images named .img are often qcow2: the header decides). */
const RAW_EXTENSIONS = new Set(['.raw', '.img', '.bin']);

export interface FormatEvidence {
  detected: Detected;
  /** `format` of the input, if it gave one. */
  declared?: string | undefined;
  /** The file name or the URL's path (its extension counts as a declaration). */
  name: string;
  size: number;
  /** For messages (a path, or a URL without credentials or query). */
  description: string;
}

function extensionOf(name: string): string {
  return path.extname(name.replace(/\.(gz|xz|zst)$/i, '.$1')).toLowerCase();
}

export function proveFormat(e: FormatEvidence): string {
  const declared = e.declared === 'vpc' ? 'vhd' : e.declared;
  const ext = extensionOf(e.name);
  const claimed = CLAIMING_EXTENSIONS[ext];
  const { detected } = e;
  if (detected.kind === 'encrypted')
    throw new DiskFormatUnsupportedError(`${e.description}: ${detected.format} image is encrypted; decrypt it first`);

  if (detected.kind === 'native' || detected.kind === 'foreign') {
    const actual = detected.format;
    // qcow (version 1) is detected as its own format; a .qcow2 name claims version 2 or 3.
    for (const [claim, by] of [
      [declared, 'its declared format'],
      [claimed, `its name (${ext})`],
    ] as const) {
      if (claim !== undefined && claim !== actual) {
        throw new InputRefusedError(
          'format mismatch',
          `${e.description}: ${by} says ${claim}, but its header is ${actual}'s; refusing to guess`,
          { declared: claim, detected: actual },
        );
      }
    }
    return actual;
  }

  // No known header: raw, if the input says so.
  const sayRaw = declared === 'raw' || (declared === undefined && RAW_EXTENSIONS.has(ext));
  if (declared !== undefined && declared !== 'raw') {
    throw new InputRefusedError(
      'format mismatch',
      `${e.description}: declared ${declared}, but it has no ${declared} header`,
      { declared },
    );
  }
  if (claimed !== undefined && claimed !== 'raw') {
    throw new InputRefusedError(
      'format mismatch',
      `${e.description}: its name (${ext}) says ${claimed}, but it has no ${claimed} header`,
      { declared: claimed },
    );
  }
  if (!sayRaw) {
    throw new InputRefusedError(
      'raw not declared',
      `${e.description}: no known image header; a raw disk needs format "raw" or a .raw/.img/.bin name`,
    );
  }
  if (e.size === 0 || e.size % 512 !== 0) {
    throw new InputRefusedError(
      'raw not declared',
      `${e.description}: a raw disk is a whole number of 512-byte sectors (this is ${e.size} bytes)`,
      { size: e.size },
    );
  }
  return 'raw';
}
