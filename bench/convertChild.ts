// The minimal driver of `xenimage convert`: the command's own code path (runConvert: open the source, write the
// tap VHD or the .tgz, rename) without the CLI's start-up, so the bench can tell the two costs apart. Like the
// CLI's convert action (src/cli/convert.ts), a .vhd output runs without V8's optimizing compiler.
// `node dist/bench/convertChild.js SRC DST`.
import { setFlagsFromString } from 'node:v8';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) throw new Error('usage: convertChild.js SRC DST');
if (/\.vhd$/i.test(dst)) setFlagsFromString('--no-opt');
const { runConvert } = await import('../src/cli/actions/convert.js');
process.exitCode = await runConvert(src, dst);
