// powershell.exe for the simulated Windows: command-line parsing (-EncodedCommand, -Command, -File), the
// script run by the PowerShell subset, errors on stderr as CLIXML, exit codes as powershell.exe reports them.
import nodePath from 'node:path';
import { Cmd, quoteArg } from './cmd.js';
import { runProgram } from './programs.js';
import type { Io } from './io.js';
import type { WindowsMachine } from './machine.js';
import { CMDLETS } from './ps/cmdlets.js';
import { PIPELINE_CMDLETS } from './ps/pipelineCmdlets.js';
import { PsRuntime, errorsToClixml } from './ps/run.js';
import { ACCESS_CMDLETS } from './windows/accessCmdlets.js';
import { UPDATES_CMDLETS } from './windows/updatesCmdlets.js';

const CMDLET_LIKE = /^[A-Za-z]+-[A-Za-z]+$/;
const ALL_CMDLETS = { ...CMDLETS, ...PIPELINE_CMDLETS, ...ACCESS_CMDLETS, ...UPDATES_CMDLETS };

export async function runPowerShellScript(m: WindowsMachine, script: string, io: Io): Promise<number> {
  m.commandLog.push(script);
  const rt: PsRuntime = new PsRuntime(
    m,
    io,
    ALL_CMDLETS,
    async (name, args, runtime) => {
      if (CMDLET_LIKE.test(name)) return null;
      const lower = name.toLowerCase();
      if (/\.ps1$/i.test(lower)) {
        const text = m.readFile(name);
        if (!text) return null;
        const code = await runPowerShellScript(m, text.toString('utf8').replace(/^\uFEFF/, ''), io);
        return { code, stdout: '' };
      }
      const chunks: string[] = [];
      const sub: Io = { ...io, out: (s) => void chunks.push(s), err: (s) => io.err(s) };
      const cmd = new Cmd(m, sub);
      // cmd.exe is the interpreter itself, not one of its programs.
      const code = /^cmd(\.exe)?$/i.test(nodePath.win32.basename(name))
        ? await cmd.run(['cmd', ...args.map(quoteArg)].join(' '))
        : await runProgram(m, name, args, sub, cmd);
      if (
        code === 9009 &&
        !/^(net|reg|sc|msiexec|sysprep|shutdown|tasklist|taskkill|hostname|whoami|ipconfig|cmd)(\.exe)?$/i.test(
          nodePath.win32.basename(lower),
        )
      ) {
        void runtime;
        return null;
      }
      return { code, stdout: chunks.join('') };
    },
    script,
  );
  const code = await rt.runScript(script);
  const clixml = errorsToClixml(rt.errors);
  if (clixml) io.err(clixml);
  return code;
}

/** `powershell.exe [options] [-EncodedCommand b64 | -Command … | -File path]`. */
export async function runPowerShellProgram(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.toLowerCase();
    if (/^-(noprofile|nop|noninteractive|noni|nologo|mta|sta)$/.test(a)) continue;
    if (/^-(executionpolicy|ep|ex|inputformat|outputformat|windowstyle|w)$/.test(a)) {
      i++;
      continue;
    }
    if (/^-(encodedcommand|enc|ec|e)$/.test(a)) {
      const b64 = args[i + 1] ?? '';
      if (!/^[A-Za-z0-9+/]+=*$/.test(b64) || b64.length % 4 !== 0) {
        io.err(
          `Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n`,
        );
        return 1;
      }
      return runPowerShellScript(m, Buffer.from(b64, 'base64').toString('utf16le'), io);
    }
    if (/^-(command|c)$/.test(a)) {
      const rest = args.slice(i + 1).join(' ');
      return runPowerShellScript(m, rest === '-' ? await io.proc.readToEnd() : rest, io);
    }
    if (/^-(file|f)$/.test(a)) {
      const file = args[i + 1] ?? '';
      const text = m.readFile(file);
      if (!text) {
        io.err(
          `The argument '${file}' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.\r\n`,
        );
        return 0xfffd0000;
      }
      return runPowerShellScript(m, text.toString('utf8').replace(/^\uFEFF/, ''), io);
    }
    if (a.startsWith('-')) {
      io.err(
        `-${args[i]!.replace(/^-/, '')} : The term '-${args[i]!.replace(/^-/, '')}' is not recognized as the name of a cmdlet, function, script file, or operable program.\r\n`,
      );
      return 1;
    }
    // The remaining words are the command.
    return runPowerShellScript(m, args.slice(i).join(' '), io);
  }
  io.err('powershell.exe: no command given (interactive sessions are not supported over WinRM here)\r\n');
  return 1;
}
