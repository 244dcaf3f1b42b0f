// A local file as a positional byte source.
import { open, type FileHandle } from 'node:fs/promises';
import { DiskCorruptError, DiskSourceError } from './errors.js';
import type { ByteSource } from './source.js';

export class FileSource implements ByteSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly description: string,
  ) {}

  static async open(path: string): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const type =
        code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' ? 'DiskSourceNotFound' : 'DiskSourceUnavailable';
      throw new DiskSourceError(type, `cannot open ${path}: ${code ?? String(err)}`, {
        retryable: type !== 'DiskSourceNotFound',
        cause: err,
      });
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) {
        throw new DiskSourceError('DiskSourceNotFound', `${path} is not a regular file`, { retryable: false });
      }
      return new FileSource(handle, stat.size, path);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(buffer: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < buffer.length) {
      const { bytesRead } = await this.handle.read(buffer, done, buffer.length - done, position + done);
      if (bytesRead === 0) {
        throw new DiskCorruptError(
          `${this.description}: unexpected end of file at byte ${position + done} (the file is truncated)`,
          {
            position: position + done,
          },
        );
      }
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
