// ISO 9660 images with Joliet and Rock Ridge names, made by xorriso from a staged folder.
import { chmod } from 'node:fs/promises';
import { XenimageError } from '../errors.js';
import { ToolMissingError, runTool } from '../host/spawn.js';

/** ISO 9660 volume identifiers: up to 32 d-characters. */
export const VOLUME_LABEL = /^[A-Z0-9_]{1,32}$/;

export async function buildIso(o: {
  sourceDir: string;
  output: string;
  volumeLabel: string;
  signal?: AbortSignal;
}): Promise<void> {
  if (!VOLUME_LABEL.test(o.volumeLabel))
    throw new XenimageError('InvalidInput', `volume label "${o.volumeLabel}" must be 1-32 of A-Z, 0-9, _`, {
      retryable: false,
    });
  try {
    await runTool(
      'xorriso',
      ['-as', 'mkisofs', '-quiet', '-V', o.volumeLabel, '-J', '-joliet-long', '-r', '-o', o.output, o.sourceDir],
      { signal: o.signal },
    );
  } catch (err) {
    if (err instanceof ToolMissingError) throw err;
    throw new XenimageError(
      'IsoBuildFailed',
      `xorriso could not build ${o.output}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop()}`,
      {
        retryable: false,
        cause: err,
      },
    );
  }
  await chmod(o.output, 0o600);
}
