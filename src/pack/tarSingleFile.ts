// A tar archive holding one regular file of known size, via tar-stream (which writes GNU base-256 sizes above
// 8 GiB, measured in docs/reference/disks.md §6). The content is pumped with backpressure; a short or long content is
// tar-stream's "Size mismatch" error.
import { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface TarEntrySpec {
  name: string;
  size: number;
  mtime?: Date;
  mode?: number;
}

export function tarSingleFile(spec: TarEntrySpec, content: Readable, onBytes?: (done: number) => void): Readable {
  const pack = tar.pack();
  const entry = pack.entry(
    {
      name: spec.name,
      size: spec.size,
      mode: spec.mode ?? 0o644,
      mtime: spec.mtime ?? new Date(0),
      type: 'file',
      uid: 0,
      gid: 0,
      uname: 'root',
      gname: 'root',
    },
    (err) => {
      if (err) pack.destroy(err);
      else pack.finalize();
    },
  );
  // Their errors reach the consumer through `out`; without these listeners a late one would be uncaught.
  pack.on('error', () => undefined);
  entry.on('error', () => undefined);
  // Flowing mode hands each chunk over as it was pushed. (An async iterator reads whatever is buffered as one
  // concatenated copy: for a tap VHD that copied every block, defeating the block pool and doubling the garbage.)
  let done = 0;
  content.on('data', (chunk: Buffer) => {
    done += chunk.length;
    onBytes?.(done);
    if (!entry.write(chunk)) {
      content.pause();
      entry.once('drain', () => content.resume());
    }
  });
  content.once('end', () => (entry as NodeJS.WritableStream).end());
  content.once('error', (err) => pack.destroy(err));
  const out = Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
  // Destroying the archive stream (consumer gone, abort) stops the content too.
  out.once('close', () => {
    if (!content.destroyed) content.destroy();
    pack.destroy();
  });
  return out;
}
