// The guest's build logs an operator needs, read over WinRM into memory (nothing is written on the worker): the
// tails of Panther (setup, sysprep), the PV tools MSI log and cloudbase-init's logs, bounded per file and in
// total, with the build's secret values scrubbed before they leave the activity.
import { psQuote } from '../../winrm/powershell.js';
import { CLOUDBASE_INSTALL_DIR } from '../cloudbaseInit.js';
import { PV_TOOLS_LOG } from '../firstLogon.js';
import { isTransient, openClient, runScript, type GuestContext } from './session.js';

export const GUEST_LOGS = [
  'C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log',
  'C:\\Windows\\System32\\Sysprep\\Panther\\setuperr.log',
  'C:\\Windows\\Panther\\UnattendGC\\setupact.log',
  PV_TOOLS_LOG,
  'C:\\Windows\\Temp\\cbinit.log',
  `${CLOUDBASE_INSTALL_DIR}\\log\\cloudbase-init.log`,
  `${CLOUDBASE_INSTALL_DIR}\\log\\cloudbase-init-unattend.log`,
];

export interface LogTail {
  guestPath: string;
  lines: string[];
  /** Lines were dropped at the head (the file had more, or the byte budget ran out). */
  truncated: boolean;
}

export interface CollectedLogs {
  files: LogTail[];
  missing: string[];
  /** UTF-8 bytes of all kept lines. */
  bytes: number;
}

export interface CollectLogsOptions {
  /** Last lines kept per file. */
  maxLines: number;
  /** Bytes kept over all files; the later files of GUEST_LOGS lose their head first. */
  maxBytes: number;
  /** Removes secret values from a line (applied before anything is counted or kept). */
  scrub: (line: string) => string;
  paths?: string[];
}

export async function collectLogs(ctx: GuestContext, o: CollectLogsOptions): Promise<CollectedLogs> {
  const files: LogTail[] = [];
  const missing: string[] = [];
  let budget = o.maxBytes;
  const client = openClient(ctx);
  try {
    for (const guestPath of o.paths ?? GUEST_LOGS) {
      let r;
      try {
        r = await runScript(
          client,
          ctx,
          `$ErrorActionPreference = 'Stop'\r\nGet-Content -LiteralPath ${psQuote(guestPath)} -Tail ${o.maxLines + 1}`,
        );
      } catch (err) {
        // The guest went away (a reboot, the shutdown): keep what was read.
        if (isTransient(err)) break;
        throw err;
      }
      if (r.exitCode !== 0) {
        missing.push(guestPath);
        continue;
      }
      const read = r.stdoutText.replace(/\r?\n$/, '').split(/\r?\n/);
      const all = r.stdoutText === '' ? [] : read.map(o.scrub);
      let lines = all.slice(-o.maxLines);
      let truncated = all.length > o.maxLines;
      while (lines.length > 0 && Buffer.byteLength(lines.join('\n')) > budget) {
        lines = lines.slice(1);
        truncated = true;
      }
      budget -= Buffer.byteLength(lines.join('\n'));
      files.push({ guestPath, lines, truncated });
      ctx.progress?.({ phase: 'collecting logs', files: files.length });
    }
  } finally {
    client.close();
  }
  return { files, missing, bytes: o.maxBytes - budget };
}
