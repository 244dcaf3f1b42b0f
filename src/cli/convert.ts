// `xenimage convert SRC DST.vhd|DST.tgz`: the data path without Temporal (src/cli/actions/convert.ts runs it).
import { InvalidArgumentError, type Command } from 'commander';
import type { ConvertOptions } from './actions/convert.js';

function parseLevel(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new InvalidArgumentError('an integer 1..9');
  return n;
}

export function registerConvertCommand(program: Command): Command {
  return program
    .command('convert')
    .description(
      'convert a disk image (file or http(s) URL; qcow2, vhd, raw, vmdk, vhdx, vdi…) into a tap VHD or a .tgz holding 0.vhd, without Temporal',
    )
    .argument('<src>', 'source image: a path or an http(s) URL')
    .argument('<dst>', 'DST.vhd (tap VHD) or DST.tgz / DST.tar.gz (tar with 0.vhd, one gzip member)')
    .option('--level <n>', 'gzip level 1..9 (default 6)', parseLevel)
    .option('--format <format>', 'source format, skipping detection (raw, qcow2, vhd, vmdk, …)')
    .option('--compressor <kind>', 'gzip engine: threads (default), pigz or zlib')
    .action(async (src: string, dst: string, options: ConvertOptions) => {
      const { runConvert } = await import('./actions/convert.js');
      process.exitCode = await runConvert(src, dst, options);
    });
}
