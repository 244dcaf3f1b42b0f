// The minimal driver of `xenimage convert`: the command's own code path (runConvert: open the source, write the
// tap VHD or the .tgz, rename) without the CLI's start-up, so the bench can tell the two costs apart.
// `node dist/bench/convertChild.js SRC DST`.
import { runConvert } from '../src/cli/actions/convert.js';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) throw new Error('usage: convertChild.js SRC DST');
process.exitCode = await runConvert(src, dst);
