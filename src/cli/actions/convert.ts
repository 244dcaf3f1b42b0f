// `xenimage convert SRC DST.vhd|DST.tgz`: the data path without Temporal. SRC is a file or an http(s) URL in
// any supported format; DST.vhd gets a tap VHD, DST.tgz (or .tar.gz) the tar with `0.vhd`, one gzip member.
// Output goes to `DST.partial-…` and is renamed at the end: a failure or Ctrl-C never leaves a partial DST.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { errorMessage } from '../../errors.js';
import { formatBytes } from '../../disk/geometry.js';
import { writeTapVhdFile } from '../../disk/tapVhdFile.js';
import type { CompressorKind } from '../../pack/compressor.js';
import { openImageSource } from '../../pack/imageSource.js';

export interface ConvertOptions {
  level?: number;
  format?: string;
  compressor?: CompressorKind;
}

type OutputKind = 'vhd' | 'tgz';

function outputKind(dst: string): OutputKind | undefined {
  if (/\.vhd$/i.test(dst)) return 'vhd';
  if (/\.(tgz|tar\.gz)$/i.test(dst)) return 'tgz';
  return undefined;
}

/** Runs one conversion; returns the exit code (0 ok, 1 failed, 2 bad usage, 130 interrupted). */
export async function runConvert(
  src: string,
  dst: string,
  options: ConvertOptions = {},
  stderr: NodeJS.WriteStream = process.stderr,
): Promise<number> {
  const kind = outputKind(dst);
  if (!kind) {
    stderr.write(`xenimage convert: the output must end in .vhd, .tgz or .tar.gz (got ${path.basename(dst)})\n`);
    return 2;
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const partial = path.join(path.dirname(dst), `${path.basename(dst)}.partial-${randomBytes(4).toString('hex')}`);
  const progress = new ProgressLine(stderr);
  try {
    const spec = /^https?:\/\//i.test(src)
      ? { url: src, format: options.format }
      : { path: src, format: options.format };
    const image = await openImageSource(spec, {
      signal: controller.signal,
      tempDir: path.dirname(path.resolve(dst)), // bridge temp files beside the output, where space is planned
      onBridgeProgress: (phase, fraction) => progress.update(phase, fraction * 1000, 1000),
    });
    try {
      let facts: Record<string, unknown>;
      if (kind === 'vhd') {
        const written = await writeTapVhdFile(image.reader, partial, {
          signal: controller.signal,
          sync: false, // as qemu-img convert and cp: the page cache writes it back (docs/benchmarks.md)
          onProgress: (done, total) => progress.update('vhd', done, total),
        });
        facts = { vhdBytes: written.size };
      } else {
        const { packImage } = await import('../../pack/pipeline.js'); // tar and gzip only for a .tgz
        const packed = packImage(image, {
          level: options.level,
          compressor: options.compressor,
          signal: controller.signal,
          onProgress: (p) => progress.update('pack', p.bytesDone, p.bytesTotal),
        });
        await pipeline(packed.stream, createWriteStream(partial, { flags: 'wx' }), { signal: controller.signal });
        const r = await packed.result;
        facts = { vhdBytes: r.vhdBytes, tgzBytes: r.tgzBytes, md5: r.md5, sha512: r.sha512 };
      }
      await rename(partial, dst);
      progress.finish();
      process.stdout.write(
        `${JSON.stringify({ output: dst, sourceFormat: image.format, virtualSize: image.virtualSize, allocatedBytes: image.allocatedBytes, ...facts })}\n`,
      );
      return 0;
    } finally {
      await image.close();
    }
  } catch (err) {
    progress.finish();
    await rm(partial, { force: true });
    const interrupted = controller.signal.aborted;
    stderr.write(`xenimage convert: ${interrupted ? 'interrupted' : errorMessage(err).split('\n')[0]}\n`);
    return interrupted ? 130 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A progress bar redrawn on a TTY at most 5 times a second; silent when stderr is not a terminal. */
class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly started = Date.now();

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(phase: string, done: number, total: number): void {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (now - this.last < 200 && done < total) return;
    this.last = now;
    const width = 30;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * width);
    const rate =
      phase === 'pack' || phase === 'vhd'
        ? `  ${formatBytes(done / Math.max(0.001, (now - this.started) / 1000))}/s`
        : '';
    const amounts = phase === 'pack' || phase === 'vhd' ? `  ${formatBytes(done)} / ${formatBytes(total)}` : '';
    this.out.write(
      `\r\x1b[2K${phase.padEnd(8)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(1)}%${amounts}${rate}`,
    );
    this.shown = true;
  }

  finish(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }
}
