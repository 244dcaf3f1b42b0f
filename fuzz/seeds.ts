// The seed corpus of a target: the files of fuzz/corpus/<target>/ (small, valid inputs made by the real tools).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** fuzz/corpus of the checkout (this file runs from dist/fuzz/). */
export const CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fuzz/corpus');

export async function loadSeeds(target: string): Promise<Buffer[]> {
  const dir = path.join(CORPUS_DIR, target);
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map((n) => readFile(path.join(dir, n))));
}
