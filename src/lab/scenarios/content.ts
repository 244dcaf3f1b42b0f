// Deterministic contents for scenario disks, so tests can regenerate the exact bytes a VM's disk holds.
import { createHash } from 'node:crypto';

export const MiB = 1024 * 1024;

export interface ContentSpec {
  offsetMiB: number;
  lengthMiB: number;
  seed?: string;
  text?: string;
}

/** The bytes a content entry writes: a SHA-256 counter stream of `seed`, or `text` repeated. */
export function contentBytes(spec: ContentSpec): Buffer {
  const length = Math.round(spec.lengthMiB * MiB);
  const out = Buffer.alloc(length);
  if (spec.text !== undefined) {
    const text = Buffer.from(spec.text, 'utf8');
    for (let i = 0; i < length; i += text.length) text.copy(out, i, 0, Math.min(text.length, length - i));
    return out;
  }
  const seed = spec.seed ?? '';
  for (let i = 0, n = 0; i < length; i += 32, n++) {
    createHash('sha256')
      .update(`${seed}:${n}`)
      .digest()
      .copy(out, i, 0, Math.min(32, length - i));
  }
  return out;
}
