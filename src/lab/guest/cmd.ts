// A cmd.exe for the simulated Windows: %VAR% expansion, `&`, `&&`, `||`, `if [not] exist … (…) else (…)`,
// redirections, the built-ins the engine uses, and the programs it runs (net, reg, sc, msiexec, sysprep,
// shutdown, tasklist, taskkill, powershell, …) with Windows' messages and exit codes. Anything else is
// "not recognized" (9009), as on Windows.
import nodePath from 'node:path';
import { WindowsMachine } from './machine.js';
import { GuestProcess, sleep } from './process.js';
import { registeredProgram, type Io } from './io.js';
import { recordFirewallRule } from './windows/firewall.js';

export type { Io } from './io.js';

const CRLF = '\r\n';

/** Splits arguments the way the C runtime does: whitespace outside double quotes; quotes are removed. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQ = false;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') {
      inQ = !inQ;
      has = true;
    } else if (!inQ && /\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/** Splits at an unquoted operator outside parentheses. */
function splitTop(line: string): Array<{ text: string; op: '&' | '&&' | '||' | null }> {
  const parts: Array<{ text: string; op: '&' | '&&' | '||' | null }> = [];
  let depth = 0;
  let inQ = false;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') inQ = !inQ;
    if (inQ) continue;
    if (c === '^') {
      i++;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && (c === '&' || (c === '|' && line[i + 1] === '|'))) {
      if (c === '&' && line[i - 1] === '>') continue; // 2>&1
      const two = line.slice(i, i + 2);
      const op = two === '&&' ? '&&' : two === '||' ? '||' : '&';
      parts.push({ text: line.slice(start, i), op: null });
      parts[parts.length - 1]!.op = op;
      i += op.length - 1;
      start = i + 1;
    }
  }
  parts.push({ text: line.slice(start), op: null });
  return parts.filter((p, idx) => p.text.trim() !== '' || idx < parts.length - 1);
}

function expandVars(line: string, vars: Record<string, string>, errorlevel: number): string {
  return line.replace(/%([^%\s=]+)%/g, (m, name: string) => {
    const key = name.toUpperCase();
    if (key === 'ERRORLEVEL') return String(errorlevel);
    return vars[key] ?? m;
  });
}

export class Cmd {
  errorlevel = 0;
  constructor(
    private readonly m: WindowsMachine,
    private readonly io: Io,
  ) {}

  /** Runs one command line (as `cmd.exe /c` would) and returns its exit code. */
  async run(line: string): Promise<number> {
    const expanded = expandVars(line, this.io.vars, this.errorlevel);
    let skip: '&&' | '||' | null = null;
    for (const part of splitTop(expanded)) {
      const shouldRun =
        skip === null || (skip === '&&' && this.errorlevel === 0) || (skip === '||' && this.errorlevel !== 0);
      if (shouldRun) this.errorlevel = await this.runSimple(part.text.trim());
      skip = part.op === '&' ? null : part.op;
      if (this.io.proc.killed) break;
    }
    return this.errorlevel;
  }

  private async runSimple(text: string): Promise<number> {
    let t = text.replace(/^@/, '').trim();
    if (!t) return this.errorlevel;
    if (t.startsWith('(') && t.endsWith(')')) return this.run(t.slice(1, -1));
    // Redirections (outside quotes): [1|2]>[>]target and 2>&1.
    const redir = extractRedirections(t);
    t = redir.rest;
    const outFile = redir.out;
    const errFile = redir.err;
    const io = this.io;
    const fileSink = (f: { path: string; append: boolean }): ((s: string) => void) => {
      if (/^nul$/i.test(f.path)) return () => undefined;
      const p = f.path;
      if (!f.append) this.m.writeFile(p, '');
      return (s: string) => void this.m.writeFile(p, s, true);
    };
    const out = outFile ? fileSink(outFile) : io.out.bind(io);
    const err = errFile === 'out' ? out : errFile ? fileSink(errFile) : io.err.bind(io);
    return this.dispatch(t.trim(), { ...io, out, err });
  }

  private async dispatch(t: string, io: Io): Promise<number> {
    const m = this.m;
    const ifMatch = /^if\s+(not\s+)?exist\s+("[^"]+"|\S+)\s+(.*)$/is.exec(t);
    if (ifMatch) {
      const exists = m.fileExists(ifMatch[2]!.replace(/^"(.*)"$/, '$1'));
      const cond = ifMatch[1] ? !exists : exists;
      const rest = ifMatch[3]!.trim();
      const elseSplit = /^(\(.*\))\s+else\s+(.*)$/is.exec(rest);
      if (elseSplit) return this.run(cond ? elseSplit[1]! : elseSplit[2]!);
      return cond ? this.run(rest) : this.errorlevel;
    }
    if (/^if\s/i.test(t)) {
      io.err(`The syntax of the command is incorrect.${CRLF}`);
      return 1;
    }
    const firstEnd = t.startsWith('"') ? t.indexOf('"', 1) + 1 : t.search(/[\s]|$/);
    const first = t.slice(0, firstEnd).replace(/^"(.*)"$/, '$1');
    const restRaw = t.slice(firstEnd).trim();
    const name = nodePath.win32
      .basename(first)
      .toLowerCase()
      .replace(/\.(exe|com)$/, '');
    const args = splitArgs(restRaw);
    switch (name) {
      case 'echo':
        if (/^(on|off)$/i.test(restRaw)) return 0;
        io.out((restRaw === '' ? 'ECHO is on.' : t.slice(firstEnd + 1)) + CRLF);
        return 0;
      case 'echo.':
        io.out(CRLF);
        return 0;
      case 'rem':
        return 0;
      case 'cd':
      case 'chdir':
        return 0;
      case 'ver':
        io.out(`${CRLF}Microsoft Windows [Version 10.0.20348.2340]${CRLF}`);
        return 0;
      case 'exit': {
        const n = args.filter((a) => a.toLowerCase() !== '/b')[0];
        return n && /^-?\d+$/.test(n) ? Number(n) : this.errorlevel;
      }
      case 'set': {
        const eq = restRaw.indexOf('=');
        if (eq > 0) io.vars[restRaw.slice(0, eq).toUpperCase()] = restRaw.slice(eq + 1);
        return 0;
      }
      case 'type': {
        const data = args[0] ? m.readFile(args[0]) : undefined;
        if (!data) {
          io.err(`The system cannot find the file specified.${CRLF}`);
          return 1;
        }
        io.out(data.toString('utf8'));
        return 0;
      }
      case 'del':
      case 'erase': {
        for (const a of args.filter((x) => !x.startsWith('/'))) {
          if (a.endsWith('\\*') || a.endsWith('*.*')) {
            const dir = a.replace(/\\\*(\.\*)?$/, '');
            for (const n of m.listDir(dir)) m.deleteFile(`${dir}\\${n}`);
          } else if (!m.deleteFile(a)) {
            io.err(`Could Not Find ${WindowsMachine.normalize(a)}${CRLF}`);
          }
        }
        m.env.persist().catch(() => undefined);
        return 0;
      }
      case 'mkdir':
      case 'md':
        for (const a of args) {
          if (m.dirExists(a)) {
            io.err(`A subdirectory or file ${a} already exists.${CRLF}`);
            return 1;
          }
          m.mkdir(a);
        }
        return 0;
      case 'dir': {
        const bare = args.some((a) => a.toLowerCase() === '/b');
        const target = args.find((a) => !a.startsWith('/')) ?? 'C:\\';
        if (!m.fileExists(target)) {
          io.err(`File Not Found${CRLF}`);
          return 1;
        }
        const names = m.isFile(target) ? [nodePath.win32.basename(target)] : m.listDir(target);
        if (bare) io.out(names.map((n) => n + CRLF).join(''));
        else
          io.out(
            ` Directory of ${WindowsMachine.normalize(target)}${CRLF}${CRLF}${names.map((n) => `               ${n}${CRLF}`).join('')}`,
          );
        return 0;
      }
      case 'cmd': {
        const c = args.findIndex((a) => /^\/[ck]$/i.test(a));
        if (c < 0) return 0;
        const inner = restRaw.slice(restRaw.toLowerCase().indexOf(args[c]!.toLowerCase()) + 2).trim();
        return this.run(inner.replace(/^"(.*)"$/s, '$1'));
      }
      case 'start':
        return this.start(args, io);
      default:
        return runProgram(m, first, args, io, this);
    }
  }

  private async start(args: string[], io: Io): Promise<number> {
    let i = 0;
    let wait = false;
    if (args[0] !== undefined && args[0] === '') i = 1;
    for (; i < args.length && args[i]!.startsWith('/'); i++) if (args[i]!.toLowerCase() === '/wait') wait = true;
    const prog = args[i];
    if (!prog) return 0;
    const rest = args.slice(i + 1);
    if (wait) return runProgram(this.m, prog, rest, io, this);
    const child = spawnDetached(this.m, [prog, ...rest].map(quoteArg).join(' '), io.user, io.proc.signal);
    void child;
    return 0;
  }

  /** Runs a .cmd/.bat file line by line. */
  async script(text: string): Promise<number> {
    let code = 0;
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim() || /^\s*(@?echo\s+off|rem\b|::)/i.test(line)) continue;
      code = await this.run(line);
      if (this.io.proc.killed) break;
    }
    return code;
  }
}

interface Redirections {
  rest: string;
  out: { path: string; append: boolean } | null;
  err: { path: string; append: boolean } | 'out' | null;
}

function extractRedirections(t: string): Redirections {
  const r: Redirections = { rest: '', out: null, err: null };
  let inQ = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (c === '"') inQ = !inQ;
    if (inQ || c !== '>') {
      r.rest += c;
      continue;
    }
    let fd = 1;
    const prev = r.rest[r.rest.length - 1];
    if ((prev === '1' || prev === '2') && (r.rest.length === 1 || /\s/.test(r.rest[r.rest.length - 2]!))) {
      fd = Number(prev);
      r.rest = r.rest.slice(0, -1);
    }
    const append = t[i + 1] === '>';
    if (append) i++;
    if (t.slice(i + 1, i + 3) === '&1') {
      i += 2;
      if (fd === 2) r.err = 'out';
      continue;
    }
    let j = i + 1;
    while (t[j] === ' ') j++;
    let target = '';
    if (t[j] === '"') {
      const close = t.indexOf('"', j + 1);
      target = t.slice(j + 1, close < 0 ? t.length : close);
      j = close < 0 ? t.length : close + 1;
    } else {
      while (j < t.length && !/\s/.test(t[j]!)) target += t[j++];
    }
    i = j - 1;
    if (fd === 2) r.err = { path: target, append };
    else r.out = { path: target, append };
  }
  r.rest = r.rest.trim();
  return r;
}

export function quoteArg(a: string): string {
  return /[\s"]/.test(a) || a === '' ? `"${a.replace(/"/g, '\\"')}"` : a;
}

/** A process outside the shell's job (Win32_Process.Create, `start` without /wait): survives the shell. */
export function spawnDetached(
  m: WindowsMachine,
  commandLine: string,
  user: string,
  killWith?: AbortSignal,
): GuestProcess {
  const first = splitArgs(commandLine)[0] ?? 'cmd';
  const proc = new GuestProcess(nodePath.win32.basename(first).toLowerCase(), commandLine);
  void killWith;
  m.processes.add(proc);
  m.commandLog.push(commandLine);
  const io: Io = { proc, out: () => undefined, err: () => undefined, user, vars: m.envVars(user) };
  void new Cmd(m, io)
    .run(commandLine)
    .catch(() => 1)
    .then((code) => {
      proc.exit(code);
      m.processes.delete(proc);
      return m.env.persist();
    })
    .catch(() => undefined);
  return proc;
}

const NET_MSG = (text: string, n?: number): string =>
  `${text}${CRLF}${CRLF}${n !== undefined ? `More help is available by typing NET HELPMSG ${n}.${CRLF}${CRLF}` : ''}`;

/** External programs by image name. */
export async function runProgram(m: WindowsMachine, exe: string, args: string[], io: Io, cmd: Cmd): Promise<number> {
  const base = nodePath.win32.basename(exe).toLowerCase();
  const name = base.replace(/\.(exe|com)$/, '');
  const lower = args.map((a) => a.toLowerCase());
  if (/\.(cmd|bat)$/.test(base)) {
    const text = m.readFile(exe);
    if (!text) return notRecognized(exe, io);
    return cmd.script(text.toString('utf8'));
  }
  switch (name) {
    case 'hostname':
      io.out(m.state.computerName + CRLF);
      return 0;
    case 'whoami':
      io.out(`${m.state.computerName.toLowerCase()}\\${io.user.toLowerCase()}${CRLF}`);
      return 0;
    case 'ipconfig':
      io.out(
        `${CRLF}Windows IP Configuration${CRLF}${CRLF}Ethernet adapter Ethernet:${CRLF}${CRLF}   IPv4 Address. . . . . . . . . . . : ${io.vars.XENIMAGE_ADDRESS ?? '127.0.0.1'}${CRLF}`,
      );
      return 0;
    case 'net':
      return net(m, args, io);
    case 'reg':
      return reg(m, args, io);
    case 'sc':
      return sc(m, args, io);
    case 'msiexec':
    case 'sysprep': {
      // Its own process (tasklist, Get-Process, taskkill see it), ended with its parent.
      const child = new GuestProcess(`${name}.exe`, [exe, ...args].join(' '));
      m.processes.add(child);
      const onAbort = (): void => child.terminate();
      io.proc.signal.addEventListener('abort', onAbort, { once: true });
      try {
        return name === 'msiexec' ? await m.msiexec(args, child) : await m.sysprep(args, child);
      } finally {
        io.proc.signal.removeEventListener('abort', onAbort);
        m.processes.delete(child);
      }
    }
    case 'shutdown': {
      if (lower.includes('/a')) return 0;
      const t = Number(args[lower.indexOf('/t') + 1] ?? '30');
      const action = lower.includes('/r') ? 'reboot' : lower.includes('/s') || lower.includes('/p') ? 'shutdown' : null;
      if (!action) {
        io.err(
          `Usage: shutdown [/i | /l | /s | /sg | /r | /g | /a | /p | /h | /e | /o] [/hybrid] [/soft] [/fw] [/f]${CRLF}`,
        );
        return 1;
      }
      setTimeout(
        () => void (action === 'reboot' ? m.env.reboot() : m.env.shutdown()),
        m.env.scaled(Math.max(1, t) * 1000),
      ).unref();
      return 0;
    }
    case 'tasklist':
      return tasklist(m, args, io);
    case 'taskkill': {
      const im = args[lower.indexOf('/im') + 1];
      const hits = [...m.processes].filter((p) => im && p.image === im.toLowerCase());
      if (!im || hits.length === 0) {
        io.err(`ERROR: The process "${im ?? ''}" not found.${CRLF}`);
        return 128;
      }
      for (const p of hits) {
        p.terminate();
        m.processes.delete(p);
        io.out(`SUCCESS: The process "${p.image}" with PID ${p.pid} has been terminated.${CRLF}`);
      }
      return 0;
    }
    case 'netsh': {
      // netsh advfirewall firewall add rule name=… dir=in action=allow protocol=TCP localport=N
      const kv = Object.fromEntries(
        args
          .filter((a) => a.includes('='))
          .map((a) => [a.slice(0, a.indexOf('=')).toLowerCase(), a.slice(a.indexOf('=') + 1)]),
      );
      if (lower.slice(0, 4).join(' ') !== 'advfirewall firewall add rule' || !kv.name || !kv.dir) {
        io.out(`The following command was not found: ${args.join(' ')}.${CRLF}`);
        return 1;
      }
      if (kv.dir.toLowerCase() === 'in' && (kv.action ?? '').toLowerCase() === 'allow') {
        const ports = (kv.localport ?? '')
          .split(',')
          .map(Number)
          .filter((n) => n > 0);
        for (const p of ports) if (!m.state.winrm.firewall.includes(p)) m.state.winrm.firewall.push(p);
        recordFirewallRule(m, { displayName: kv.name, ports });
      }
      await m.env.persist();
      io.out(`Ok.${CRLF}${CRLF}`);
      return 0;
    }
    case 'timeout':
    case 'ping': {
      const n = Number(args.find((a) => /^\d+$/.test(a)) ?? '1');
      await sleep(m.env.scaled(n * 1000), io.proc.signal);
      return 0;
    }
    default: {
      const program = registeredProgram(name);
      return program ? program(m, args, io) : notRecognized(exe, io);
    }
  }
}

function notRecognized(exe: string, io: Io): number {
  io.err(`'${exe}' is not recognized as an internal or external command,${CRLF}operable program or batch file.${CRLF}`);
  return 9009;
}

async function net(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const sub = args[0]?.toLowerCase();
  const flags = args.filter((a) => a.startsWith('/')).map((a) => a.toLowerCase());
  const pos = args.slice(1).filter((a) => !a.startsWith('/'));
  if (sub === 'user') {
    const name = pos[0];
    if (!name) {
      io.out(
        `${CRLF}User accounts for \\\\${m.state.computerName}${CRLF}${CRLF}${Object.values(m.state.users)
          .map((u) => u.name)
          .join('    ')}${CRLF}The command completed successfully.${CRLF}${CRLF}`,
      );
      return 0;
    }
    if (flags.includes('/add')) {
      const password = pos[1] ?? '';
      if (password.length > 14 && !flags.includes('/y')) {
        io.out(
          `The password entered is longer than 14 characters.  Computers${CRLF}with Windows prior to Windows 2000 will not be able to use${CRLF}this account. Do you want to continue this operation? (Y/N) [Y]: `,
        );
        const answer = await io.proc.readLine();
        if (answer === null || /^n/i.test(answer)) {
          io.err(NET_MSG('The command was canceled.'));
          return 2;
        }
      }
      const r = m.addUser(name, password);
      if (r === 'ok') {
        await m.env.persist();
        io.out(NET_MSG('The command completed successfully.'));
        return 0;
      }
      if (r === 'exists') io.err(NET_MSG('The account already exists.', 2224));
      else if (r === 'policy')
        io.err(
          NET_MSG(
            'The password does not meet the password policy requirements. Check the minimum password length, password complexity and password history requirements.',
            2245,
          ),
        );
      else io.err(NET_MSG('The user name or group name parameter is invalid.', 3780));
      return 2;
    }
    const u = m.findUser(name);
    if (!u) {
      io.err(NET_MSG('The user name could not be found.', 2221));
      return 2;
    }
    const groups = Object.entries(m.state.groups).filter(([, g]) =>
      g.members.some((x) => x.toLowerCase() === u.name.toLowerCase()),
    );
    io.out(
      `User name                    ${u.name}${CRLF}Account active               ${u.enabled ? 'Yes' : 'No'}${CRLF}Local Group Memberships      ${groups.map(([k]) => '*' + k[0]!.toUpperCase() + k.slice(1)).join(' ')}${CRLF}The command completed successfully.${CRLF}${CRLF}`,
    );
    return 0;
  }
  if (sub === 'localgroup') {
    const group = pos[0];
    const member = pos[1];
    if (!group) return 0;
    if (flags.includes('/add') && member) {
      const r = m.addGroupMember(group, member);
      if (r === 'ok') {
        await m.env.persist();
        io.out(NET_MSG('The command completed successfully.'));
        return 0;
      }
      if (r === 'already')
        io.err(
          `System error 1378 has occurred.${CRLF}${CRLF}The specified account name is already a member of the group.${CRLF}${CRLF}`,
        );
      else if (r === 'no-user') io.err(NET_MSG(`There is no such global user or group: ${member}.`, 3783));
      else io.err(NET_MSG('The specified local group does not exist.', 3773));
      return 2;
    }
    const g = m.findGroup(group);
    if (!g) {
      io.err(NET_MSG('The specified local group does not exist.', 3773));
      return 2;
    }
    io.out(
      `Alias name     ${group}${CRLF}${CRLF}Members${CRLF}${CRLF}-------------------------------------------------------------------------------${CRLF}${g.members.join(CRLF)}${CRLF}The command completed successfully.${CRLF}${CRLF}`,
    );
    return 0;
  }
  if (sub === 'start' || sub === 'stop') {
    const s = pos[0] ? m.service(pos[0]) : undefined;
    if (!s) {
      io.err(NET_MSG('The service name is invalid.', 2185));
      return 2;
    }
    if (sub === 'start' && s.running) {
      io.err(NET_MSG('The requested service has already been started.', 2182));
      return 2;
    }
    s.running = sub === 'start';
    await m.env.persist();
    io.out(`The ${s.displayName} service was ${sub === 'start' ? 'started' : 'stopped'} successfully.${CRLF}${CRLF}`);
    return 0;
  }
  io.err(
    `The syntax of this command is:${CRLF}${CRLF}NET${CRLF}    [ ACCOUNTS | COMPUTER | CONFIG | CONTINUE | FILE | GROUP | HELP |${CRLF}      HELPMSG | LOCALGROUP | PAUSE | SESSION | SHARE | START |${CRLF}      STATISTICS | STOP | TIME | USE | USER | VIEW ]${CRLF}`,
  );
  return 1;
}

function regDisplayKey(key: string): string {
  return key.replace(/^HKLM\\?/i, 'HKEY_LOCAL_MACHINE\\').replace(/\\+$/, '');
}

async function reg(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const op = args[0]?.toLowerCase();
  const key = args[1];
  const opt = (f: string): string | undefined => {
    const i = args.findIndex((a) => a.toLowerCase() === f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const fail = (): number => {
    io.err(`ERROR: The system was unable to find the specified registry key or value.${CRLF}`);
    return 1;
  };
  if (!key || !/^(HKLM|HKEY_LOCAL_MACHINE)\\/i.test(key)) {
    io.err(`ERROR: Invalid key name.${CRLF}Type "REG ${op?.toUpperCase() ?? ''} /?" for usage.${CRLF}`);
    return 1;
  }
  if (op === 'query') {
    const vName = opt('/v');
    if (!m.regKeyExists(key)) return fail();
    const values = m.regValues(key) ?? {};
    const entries =
      vName === undefined
        ? Object.entries(values)
        : Object.entries(values).filter(([n]) => n.toLowerCase() === vName.toLowerCase());
    if (vName !== undefined && entries.length === 0) return fail();
    const fmt = (v: (typeof values)[string]): string =>
      v.type === 'REG_DWORD' || v.type === 'REG_QWORD' ? `0x${v.data.toString(16)}` : String(v.data);
    io.out(
      `${CRLF}${regDisplayKey(key)}${CRLF}${entries.map(([n, v]) => `    ${n}    ${v.type}    ${fmt(v)}${CRLF}`).join('')}${CRLF}`,
    );
    return 0;
  }
  if (op === 'add') {
    const vName = opt('/v');
    const type = (opt('/t') ?? 'REG_SZ').toUpperCase();
    const data = opt('/d') ?? '';
    if (vName === undefined) m.regCreateKey(key);
    else if (type === 'REG_DWORD' || type === 'REG_QWORD') {
      const n = /^0x/i.test(data) ? parseInt(data, 16) : Number(data);
      if (!Number.isFinite(n)) {
        io.err(`ERROR: Invalid syntax.${CRLF}`);
        return 1;
      }
      m.regSet(key, vName, { type, data: n });
    } else if (type === 'REG_SZ' || type === 'REG_EXPAND_SZ' || type === 'REG_MULTI_SZ')
      m.regSet(key, vName, { type, data });
    else {
      io.err(`ERROR: Invalid syntax.${CRLF}`);
      return 1;
    }
    await m.env.persist();
    io.out(`The operation completed successfully.${CRLF}${CRLF}`);
    return 0;
  }
  io.err(`ERROR: Invalid syntax.${CRLF}Type "REG /?" for usage.${CRLF}`);
  return 1;
}

function scState(s: { running: boolean }): string {
  return s.running ? '4  RUNNING' : '1  STOPPED';
}

async function sc(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const op = args[0]?.toLowerCase();
  const s = args[1] ? m.service(args[1]) : undefined;
  if (!s) {
    const what =
      op === 'query'
        ? 'EnumQueryServicesStatus:OpenService'
        : op === 'config'
          ? 'OpenService'
          : op === 'start'
            ? 'StartService: OpenService'
            : 'OpenService';
    io.out(
      `[SC] ${what} FAILED 1060:${CRLF}${CRLF}The specified service does not exist as an installed service.${CRLF}${CRLF}`,
    );
    return 1060;
  }
  const kernel = s.binaryPath.startsWith('\\SystemRoot');
  if (op === 'query') {
    io.out(
      `${CRLF}SERVICE_NAME: ${s.name}${CRLF}        TYPE               : ${kernel ? '1  KERNEL_DRIVER' : '10  WIN32_OWN_PROCESS'}${CRLF}        STATE              : ${scState(s)}${CRLF}` +
        `                                (${s.running ? 'STOPPABLE' : 'NOT_STOPPABLE'}, NOT_PAUSABLE, ${s.running ? 'ACCEPTS_SHUTDOWN' : 'IGNORES_SHUTDOWN'})${CRLF}` +
        `        WIN32_EXIT_CODE    : 0  (0x0)${CRLF}        SERVICE_EXIT_CODE  : 0  (0x0)${CRLF}        CHECKPOINT         : 0x0${CRLF}        WAIT_HINT          : 0x0${CRLF}`,
    );
    return 0;
  }
  if (op === 'qc') {
    const n = s.startType === 'AUTO_START' ? 2 : s.startType === 'DEMAND_START' ? 3 : 4;
    io.out(
      `[SC] QueryServiceConfig SUCCESS${CRLF}${CRLF}SERVICE_NAME: ${s.name}${CRLF}        START_TYPE         : ${n}   ${s.startType}${CRLF}        BINARY_PATH_NAME   : ${s.binaryPath}${CRLF}        DISPLAY_NAME       : ${s.displayName}${CRLF}`,
    );
    return 0;
  }
  if (op === 'config') {
    const i = args.findIndex((a) => a.toLowerCase() === 'start=');
    const v = i >= 0 ? args[i + 1]?.toLowerCase() : undefined;
    const map: Record<string, typeof s.startType> = {
      auto: 'AUTO_START',
      'delayed-auto': 'AUTO_START',
      demand: 'DEMAND_START',
      disabled: 'DISABLED',
    };
    if (!v || !map[v]) {
      io.out(`DESCRIPTION:${CRLF}        Modifies a service entry in the registry and Service Database.${CRLF}`);
      return 1639;
    }
    s.startType = map[v]!;
    await m.env.persist();
    io.out(`[SC] ChangeServiceConfig SUCCESS${CRLF}`);
    return 0;
  }
  if (op === 'start' || op === 'stop') {
    if (op === 'start' && s.running) {
      io.out(
        `[SC] StartService FAILED 1056:${CRLF}${CRLF}An instance of the service is already running.${CRLF}${CRLF}`,
      );
      return 1056;
    }
    if (op === 'start' && s.startType === 'DISABLED') {
      io.out(
        `[SC] StartService FAILED 1058:${CRLF}${CRLF}The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.${CRLF}${CRLF}`,
      );
      return 1058;
    }
    s.running = op === 'start';
    await m.env.persist();
    io.out(
      `${CRLF}SERVICE_NAME: ${s.name}${CRLF}        STATE              : ${op === 'start' ? '2  START_PENDING' : '3  STOP_PENDING'}${CRLF}`,
    );
    return 0;
  }
  io.out(
    `DESCRIPTION:${CRLF}        SC is a command line program used for communicating with the${CRLF}        Service Control Manager and services.${CRLF}`,
  );
  return 1;
}

function tasklist(m: WindowsMachine, args: string[], io: Io): number {
  const lower = args.map((a) => a.toLowerCase());
  const fi = args[lower.indexOf('/fi') + 1];
  const filter = fi ? /^imagename\s+eq\s+(.+)$/i.exec(fi.trim())?.[1]?.toLowerCase() : undefined;
  const procs = [...m.processes].filter((p) => !filter || p.image === filter);
  if (procs.length === 0) {
    io.out(`INFO: No tasks are running which match the specified criteria.${CRLF}`);
    return 0;
  }
  const csv = lower.includes('/fo') && args[lower.indexOf('/fo') + 1]?.toLowerCase() === 'csv';
  const nh = lower.includes('/nh');
  if (csv) {
    io.out(
      (nh ? '' : `"Image Name","PID","Session Name","Session#","Mem Usage"${CRLF}`) +
        procs.map((p) => `"${p.image}","${p.pid}","Services","0","10,240 K"${CRLF}`).join(''),
    );
  } else {
    io.out(
      (nh
        ? ''
        : `${CRLF}Image Name                     PID Session Name        Session#    Mem Usage${CRLF}========================= ======== ================ =========== ============${CRLF}`) +
        procs
          .map(
            (p) =>
              `${p.image.padEnd(25)} ${String(p.pid).padStart(8)} Services                   0     10,240 K${CRLF}`,
          )
          .join(''),
    );
  }
  return 0;
}
