// gzip through a `pigz` child process: one gzip member (pigz's single stream), mtime 0 (`-n`), the same bytes
// for the same input whatever the thread count. The child is killed when the stream is destroyed.
import { spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { spawnTool } from '../host/spawn.js';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';

export const PIGZ = process.env.XENIMAGE_PIGZ ?? 'pigz';
let available: boolean | undefined;

export function pigzAvailable(): boolean {
  available ??= spawnSync(PIGZ, ['--version'], { stdio: 'ignore' }).status === 0;
  return available;
}

export class PigzGzip extends Duplex {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private released = 0;
  /** Called with the count of input bytes handed to pigz (no longer referenced here), for buffer reuse upstream. */
  onReleased: ((inputBytes: number) => void) | undefined;
  private exited: Promise<number | null>;

  constructor(options: { level: number; threads: number }) {
    super({ highWaterMark: 1024 * 1024 });
    this.child = spawnTool(PIGZ, ['-c', '-n', `-${options.level}`, '-p', String(options.threads)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
    this.child.once('error', (err) => this.destroy(err));
    this.child.stdin.on('error', (err) => this.destroy(err));
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => (this.stderr += s.slice(0, 4096)));
    this.child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stdout.once('end', () => {
      void this.exited.then((code) => {
        if (code === 0) this.push(null);
        else this.destroy(new Error(`pigz failed (exit ${code}): ${this.stderr.trim()}`));
      });
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    const flushed = (err?: Error | null) => {
      if (err) return;
      this.released += chunk.length;
      this.onReleased?.(this.released);
    };
    if (this.child.stdin.write(chunk, flushed)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    callback(err);
  }
}
