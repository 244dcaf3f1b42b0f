// Windows passwords made from bytes: the built-in Administrator's password of a build is derived from the build
// key (src/secrets.ts feeds the HMAC blocks; docs/decisions/secrets-0001-derived-build-secrets.md), and demo
// passwords come from random bytes. Either way: 24 characters with all four classes Windows' complexity policy
// counts, none of the characters cmd.exe or an answer file would interpret (no quote, %, ^, &, <, >, |).
import { randomBytes } from 'node:crypto';

const CLASSES = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#$*+-=?@_'];
const ALPHABET = CLASSES.join('');
const LENGTH = 24;
/** Bytes at or above this would bias the modulo: they are skipped. */
const UNBIASED = 256 - (256 % ALPHABET.length);

/** Blocks of bytes, numbered from 0; the same numbers give the same bytes for a derivation. */
export type ByteBlocks = (block: number) => Buffer;

function* stream(blocks: ByteBlocks): Generator<number> {
  for (let block = 0; block < 1024; block++) yield* blocks(block);
  throw new Error('the byte source ran dry');
}

/** The first 24-character candidate from the bytes that has every class (and not the account's name). */
export function windowsPassword(blocks: ByteBlocks): string {
  const bytes = stream(blocks);
  for (;;) {
    let candidate = '';
    while (candidate.length < LENGTH) {
      const b = bytes.next().value as number;
      if (b < UNBIASED) candidate += ALPHABET[b % ALPHABET.length]!;
    }
    const complex = CLASSES.every((set) => [...candidate].some((c) => set.includes(c)));
    if (complex && !candidate.toLowerCase().includes('administrator')) return candidate;
  }
}

/** A fresh random password (the demo's administrator secret). */
export function generateWindowsPassword(): string {
  return windowsPassword(() => randomBytes(32));
}
