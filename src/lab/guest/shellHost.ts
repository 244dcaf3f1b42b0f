// Connects the WinRM service to the command interpreter: each Command starts a cmd.exe-style process on the
// machine, fed by the shell's environment, logged in the machine's command log.
import nodePath from 'node:path';
import { Cmd, splitArgs } from './cmd.js';
import { registerProgram, type Io } from './io.js';
import type { WindowsMachine } from './machine.js';
import { runPowerShellProgram } from './powershell.js';
import { GuestProcess } from './process.js';
import type { WsmanShell } from './wsman.js';

// cmd.exe finds powershell.exe here (io.ts), so the two interpreters do not import each other.
registerProgram(['powershell', 'pwsh'], runPowerShellProgram);

export function shellProcessStarter(m: WindowsMachine, onStart?: (commandLine: string, proc: GuestProcess) => void) {
  return (commandLine: string, shell: WsmanShell): GuestProcess => {
    m.commandLog.push(commandLine);
    const image = nodePath.win32.basename(splitArgs(commandLine)[0] ?? 'cmd.exe').toLowerCase();
    const proc = new GuestProcess(/\.\w+$/.test(image) ? image : `${image}.exe`, commandLine);
    m.processes.add(proc);
    const vars = m.envVars(shell.user);
    for (const [k, v] of Object.entries(shell.env)) vars[k.toUpperCase()] = v;
    const io: Io = { proc, out: (s) => proc.stdout(s), err: (s) => proc.stderr(s), user: shell.user, vars };
    onStart?.(commandLine, proc);
    void new Cmd(m, io)
      .run(commandLine)
      .catch((err: unknown) => {
        if (!proc.killed) m.env.log.error({ err: (err as Error).message }, 'simulated command crashed');
        return 1;
      })
      .then(async (code) => {
        m.processes.delete(proc);
        proc.exit(code);
        await m.env.persist();
      })
      .catch(() => undefined);
    return proc;
  };
}
