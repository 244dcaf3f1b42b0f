// What the simulated command interpreters share: a process's standard streams and environment (Io), and the
// table of programs one interpreter starts in another (cmd.exe runs powershell.exe, PowerShell runs native
// programs through cmd's table). The table is filled by the shell host, so cmd.ts and powershell.ts never
// import each other.
import type { GuestProcess } from './process.js';
import type { WindowsMachine } from './machine.js';

export interface Io {
  proc: GuestProcess;
  out(text: string): void;
  err(text: string): void;
  user: string;
  /** The process's environment variables (upper-case names). */
  vars: Record<string, string>;
  /** Standard input piped from the previous command of a cmd.exe pipeline. */
  stdin?: string;
}

/** An executable the interpreters can start by image name: its exit code. */
export type ProgramRunner = (m: WindowsMachine, args: string[], io: Io) => Promise<number>;

const programs = new Map<string, ProgramRunner>();

/** Makes `run` the program behind each image name (lower case, without `.exe`). */
export function registerProgram(names: string[], run: ProgramRunner): void {
  for (const n of names) programs.set(n.toLowerCase(), run);
}

export function registeredProgram(name: string): ProgramRunner | undefined {
  return programs.get(name.toLowerCase());
}

/** Runs a .cmd/.bat file's text (cmd.exe does; programs.ts starts batch files through it). */
export interface BatchRunner {
  script(text: string): Promise<number>;
}
