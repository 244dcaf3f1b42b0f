// Shared by the packing tests: write a packed image to a file, and the independent readers that judge it.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { run } from '../disk/support.js';

export async function saveStream(stream: Readable, file: string): Promise<void> {
  await pipeline(stream, createWriteStream(file));
}

/** GNU tar's verbose listing: [{mode, size, name}] per line. */
export async function gnuTarList(file: string): Promise<Array<{ type: string; size: number; name: string }>> {
  const out = await run('tar', ['-tvzf', file]);
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const parts = line.trim().split(/\s+/);
      return { type: parts[0]!.charAt(0), size: Number(parts[2]), name: parts.slice(5).join(' ') };
    });
}

/**
 * Python's tarfile in streaming mode `r|gz` (what os-xenapi's vdi_remote_stream uses), plus zlib's view of the
 * gzip members: returns the entries with the bytes actually read, and whether exactly one gzip member exists.
 */
export async function pythonTarCheck(
  file: string,
  checkMembers = true,
): Promise<{
  entries: Array<{ name: string; size: number; read: number; type: string }>;
  singleMember: boolean | null;
}> {
  const script = `
import json, sys, tarfile, zlib
entries = []
with tarfile.open(sys.argv[1], mode="r|gz") as t:
    for m in t:
        f = t.extractfile(m)
        n = 0
        if f is not None:
            while True:
                b = f.read(1 << 20)
                if not b: break
                n += len(b)
        entries.append({"name": m.name, "size": m.size, "read": n, "type": m.type.decode()})
if sys.argv[2] == "skip":
    print(json.dumps({"entries": entries, "singleMember": None}))
    sys.exit(0)
d = zlib.decompressobj(31)
with open(sys.argv[1], "rb") as fh:
    while not d.eof:
        chunk = fh.read(1 << 20)
        if not chunk: break
        d.decompress(chunk, 1 << 20)
        while d.unconsumed_tail and not d.eof:
            d.decompress(d.unconsumed_tail, 1 << 20)
    rest = d.unused_data + fh.read()
print(json.dumps({"entries": entries, "singleMember": d.eof and len(rest) == 0}))
`;
  const out = await run('/usr/bin/python3', ['-c', script, file, checkMembers ? 'check' : 'skip']);
  return JSON.parse(out) as {
    entries: Array<{ name: string; size: number; read: number; type: string }>;
    singleMember: boolean | null;
  };
}
