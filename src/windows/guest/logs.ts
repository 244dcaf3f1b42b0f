// The guest's build logs, copied to the worker for the operator: Panther (setup, sysprep), first-logon output,
// the MSI logs and cloudbase-init's own logs. Known secret values are scrubbed before anything is written.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scrubKnownSecrets } from '../../log.js';
import { CLOUDBASE_INSTALL_DIR } from '../cloudbaseInit.js';
import { PV_TOOLS_LOG } from '../firstLogon.js';
import { isTransient, openClient, runCmd, type GuestContext } from './session.js';

export const GUEST_LOGS = [
  'C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log',
  'C:\\Windows\\System32\\Sysprep\\Panther\\setuperr.log',
  'C:\\Windows\\Panther\\UnattendGC\\setupact.log',
  PV_TOOLS_LOG,
  'C:\\Windows\\Temp\\cbinit.log',
  `${CLOUDBASE_INSTALL_DIR}\\log\\cloudbase-init.log`,
  `${CLOUDBASE_INSTALL_DIR}\\log\\cloudbase-init-unattend.log`,
];

export interface CollectedLog {
  guestPath: string;
  localPath: string;
  bytes: number;
  /** The last lines, for the activity result. */
  tail: string[];
}

export async function collectLogs(
  ctx: GuestContext,
  o: { outputDir: string; maxBytes?: number; paths?: string[] },
): Promise<{ files: CollectedLog[]; missing: string[] }> {
  await mkdir(o.outputDir, { recursive: true, mode: 0o700 });
  const files: CollectedLog[] = [];
  const missing: string[] = [];
  const client = openClient(ctx);
  try {
    for (const guestPath of o.paths ?? GUEST_LOGS) {
      let r;
      try {
        r = await runCmd(client, ctx, 'type', [`"${guestPath}"`]);
      } catch (err) {
        if (isTransient(err)) break;
        throw err;
      }
      if (r.exitCode !== 0) {
        missing.push(guestPath);
        continue;
      }
      const max = o.maxBytes ?? 4 * 1024 * 1024;
      const text = scrubKnownSecrets(r.stdout.subarray(Math.max(0, r.stdout.length - max)).toString('utf8'));
      const localPath = path.join(o.outputDir, guestPath.replace(/^[A-Za-z]:\\/, '').replace(/[\\/:*?"<>| ]+/g, '_'));
      await writeFile(localPath, text, { mode: 0o600 });
      files.push({
        guestPath,
        localPath,
        bytes: Buffer.byteLength(text),
        tail: text.trimEnd().split(/\r?\n/).slice(-10),
      });
      ctx.progress?.({ phase: 'collecting logs', files: files.length });
    }
  } finally {
    client.close();
  }
  return { files, missing };
}
