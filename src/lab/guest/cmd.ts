// A cmd.exe for the simulated Windows: %VAR% expansion, `&`, `&&`, `||`, pipes, `if` (errorlevel, exist,
// defined, ==, comparisons) with `else`, redirections, and the built-ins (echo, set, chcp, ver, type, del, mkdir,
// dir, cmd, start, exit) with Windows' messages. Programs (net, reg, sc, findstr, powershell, …) are in
// programs.ts; anything else is "not recognized" (9009), as on Windows.
import nodePath from 'node:path';
import type { Io } from './io.js';
import { WindowsMachine } from './machine.js';
import { GuestProcess } from './process.js';
import { runProgram } from './programs.js';

export type { Io } from './io.js';

const CRLF = '\r\n';

/** What a built-in that leaves ERRORLEVEL as it was (echo, rem, an if not taken) returns; it counts as success. */
const KEEP = null;
type Result = number | typeof KEEP;

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

/**
 * Visits the characters of `line` that are outside double quotes and parentheses and not escaped with `^`; the
 * visitor returns how many more characters it consumed (an operator's second character).
 */
function forEachTopLevel(line: string, visit: (i: number) => number | void): void {
  let depth = 0;
  let inQ = false;
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
    else if (depth === 0) i += visit(i) ?? 0;
  }
}

/** Splits at an unquoted operator outside parentheses. */
function splitTop(line: string): Array<{ text: string; op: '&' | '&&' | '||' | null }> {
  const parts: Array<{ text: string; op: '&' | '&&' | '||' | null }> = [];
  let start = 0;
  forEachTopLevel(line, (i) => {
    const c = line[i];
    if (!(c === '&' || (c === '|' && line[i + 1] === '|'))) return;
    if (c === '&' && line[i - 1] === '>') return; // 2>&1
    const two = line.slice(i, i + 2);
    const op = two === '&&' ? '&&' : two === '||' ? '||' : '&';
    parts.push({ text: line.slice(start, i), op });
    start = i + op.length;
    return op.length - 1;
  });
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
  /** The console's code page (chcp). */
  private codePage = 437;
  /** Running a .cmd/.bat file (set /a prints nothing there). */
  private inBatch = false;
  constructor(
    private readonly m: WindowsMachine,
    private readonly io: Io,
  ) {}

  /** Runs one command line (as `cmd.exe /c` would) and returns its exit code. */
  async run(line: string, io: Io = this.io): Promise<number> {
    return this.runExpanded(expandVars(line, io.vars, this.errorlevel), io);
  }

  /** A line whose %VARIABLES% were expanded when it was read (as cmd does, before running any of it). */
  private async runExpanded(expanded: string, io: Io): Promise<number> {
    let skip: '&&' | '||' | null = null;
    let ok = true;
    for (const part of splitTop(expanded)) {
      const shouldRun = skip === null || (skip === '&&' && ok) || (skip === '||' && !ok);
      if (shouldRun) {
        const code = await this.runPipeline(part.text.trim(), io);
        ok = code === KEEP || code === 0;
        if (code !== KEEP) this.errorlevel = code;
      }
      skip = part.op === '&' ? null : part.op;
      if (this.io.proc.killed) break;
    }
    return this.errorlevel;
  }

  /** `a | b | c`: each command's output is the next one's standard input; the last one's exit code counts. */
  private async runPipeline(text: string, io: Io): Promise<Result> {
    const segments = splitPipe(text);
    if (segments.length === 1) return this.runSimple(text, io);
    let stdin = io.stdin;
    let code: Result = 0;
    for (const [i, seg] of segments.entries()) {
      const last = i === segments.length - 1;
      const captured: string[] = [];
      const segIo: Io = last ? { ...io, stdin } : { ...io, stdin, out: (s) => void captured.push(s) };
      code = await this.runSimple(seg.trim(), segIo);
      stdin = captured.join('');
    }
    return code;
  }

  private async runSimple(text: string, io: Io): Promise<Result> {
    let t = text.replace(/^@/, '').trim();
    if (!t) return KEEP;
    if (t.startsWith('(') && t.endsWith(')')) return this.runExpanded(t.slice(1, -1), io);
    // Redirections (outside quotes): [1|2]>[>]target and 2>&1.
    const redir = extractRedirections(t);
    t = redir.rest;
    const outFile = redir.out;
    const errFile = redir.err;
    const fileSink = (f: { path: string; append: boolean }): ((s: string) => void) => {
      if (/^nul$/i.test(f.path)) return () => undefined;
      const p = f.path;
      if (!f.append) this.m.writeFile(p, '');
      return (s: string) => void this.m.writeFile(p, s, true);
    };
    const out = outFile ? fileSink(outFile) : io.out.bind(io);
    const err = errFile === 'out' ? out : errFile ? fileSink(errFile) : io.err.bind(io);
    const target = { ...io, out, err };
    t = t.trim();
    if (t.startsWith('(') && t.endsWith(')')) return this.runExpanded(t.slice(1, -1), target);
    return this.dispatch(t, target);
  }

  /** `if [/i] [not] errorlevel N | exist path | defined var | a==b | a OP b  command [else command]`. */
  private async runIf(t: string, io: Io): Promise<Result | undefined> {
    const head = /^if\s+(\/i\s+)?(not\s+)?(.*)$/is.exec(t);
    if (!head) return undefined;
    const ignoreCase = !!head[1];
    const body = head[3]!;
    let cond: boolean;
    let rest: string;
    let m: RegExpExecArray | null;
    if ((m = /^errorlevel\s+(-?\d+)\s+(.*)$/is.exec(body))) {
      cond = this.errorlevel >= Number(m[1]);
      rest = m[2]!;
    } else if ((m = /^exist\s+("[^"]+"|\S+)\s+(.*)$/is.exec(body))) {
      cond = this.m.fileExists(m[1]!.replace(/^"(.*)"$/, '$1'));
      rest = m[2]!;
    } else if ((m = /^defined\s+(\S+)\s+(.*)$/is.exec(body))) {
      cond = io.vars[m[1]!.toUpperCase()] !== undefined;
      rest = m[2]!;
    } else if ((m = /^("[^"]*"|[^\s=]+)\s*==\s*("[^"]*"|[^\s=]+)\s+(.*)$/is.exec(body))) {
      cond = ignoreCase ? m[1]!.toLowerCase() === m[2]!.toLowerCase() : m[1] === m[2];
      rest = m[3]!;
    } else if ((m = /^(\S+)\s+(equ|neq|lss|leq|gtr|geq)\s+(\S+)\s+(.*)$/is.exec(body))) {
      const [a, b] = [m[1]!, m[3]!];
      const numeric = /^-?\d+$/.test(a) && /^-?\d+$/.test(b);
      const x = numeric ? Number(a) : ignoreCase ? a.toLowerCase() : a;
      const y = numeric ? Number(b) : ignoreCase ? b.toLowerCase() : b;
      const op = m[2]!.toLowerCase();
      cond =
        op === 'equ'
          ? x === y
          : op === 'neq'
            ? x !== y
            : op === 'lss'
              ? x < y
              : op === 'leq'
                ? x <= y
                : op === 'gtr'
                  ? x > y
                  : x >= y;
      rest = m[4]!;
    } else {
      io.err(`The syntax of the command is incorrect.${CRLF}`);
      return 1;
    }
    if (head[2]) cond = !cond;
    const elseSplit = /^(\(.*\))\s+else\s+(.*)$/is.exec(rest.trim());
    if (elseSplit) return this.runExpanded(cond ? elseSplit[1]! : elseSplit[2]!, io);
    return cond ? this.runExpanded(rest.trim(), io) : KEEP;
  }

  private async dispatch(t: string, io: Io): Promise<Result> {
    const m = this.m;
    if (/^if\s/i.test(t)) return (await this.runIf(t, io))!;
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
        if (/^(on|off)$/i.test(restRaw)) return KEEP;
        io.out((restRaw === '' ? 'ECHO is on.' : t.slice(firstEnd + 1)) + CRLF);
        return KEEP;
      case 'echo.':
        io.out(CRLF);
        return KEEP;
      case 'rem':
        return KEEP;
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
      case 'set':
        return this.set(restRaw, io);
      case 'chcp':
        if (args[0] && /^\d+$/.test(args[0])) this.codePage = Number(args[0]);
        io.out(`Active code page: ${this.codePage}${CRLF}`);
        return 0;
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
        return this.run(inner.replace(/^"(.*)"$/s, '$1'), io);
      }
      case 'start':
        return this.start(args, io);
      default:
        return runProgram(m, first, args, io, this);
    }
  }

  /** `set`, `set prefix`, `set name=value`, `set "name=value"`, `set /a expression`. */
  private set(restRaw: string, io: Io): number {
    const rest = restRaw.trim();
    if (/^\/a\s/i.test(rest)) {
      const expr = rest
        .slice(2)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      const value = setArithmetic(expr, io.vars);
      if (value === undefined) {
        io.err(`Missing operand.${CRLF}`);
        return 1;
      }
      // At the command line (not in a batch file) set /a shows the result, without a line break.
      if (!this.inBatch) io.out(String(value));
      return 0;
    }
    const assignment = rest.replace(/^"(.*)"$/, '$1');
    const eq = assignment.indexOf('=');
    if (eq > 0) {
      const name = assignment.slice(0, eq).toUpperCase();
      const value = assignment.slice(eq + 1);
      if (value === '') delete io.vars[name];
      else io.vars[name] = value;
      return 0;
    }
    const names = Object.keys(io.vars)
      .filter((k) => k.startsWith(assignment.toUpperCase()))
      .sort();
    if (names.length === 0) {
      io.err(`Environment variable ${assignment} not defined${CRLF}`);
      return 1;
    }
    io.out(names.map((k) => `${k}=${io.vars[k]}${CRLF}`).join(''));
    return 0;
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
    this.inBatch = true;
    let code = 0;
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim() || /^\s*(@?echo\s+off|rem\b|::)/i.test(line)) continue;
      code = await this.run(line);
      if (this.io.proc.killed) break;
    }
    return code;
  }
}

/** Splits at unquoted single `|` outside parentheses (`||` is a conditional, split earlier). */
function splitPipe(line: string): string[] {
  const parts: string[] = [];
  let start = 0;
  forEachTopLevel(line, (i) => {
    if (line[i] !== '|') return;
    parts.push(line.slice(start, i));
    start = i + 1;
  });
  parts.push(line.slice(start));
  return parts;
}

/** `set /a`: 32-bit integer arithmetic with + - * / % and parentheses, variables by name, `name=expr`. */
function setArithmetic(expr: string, vars: Record<string, string>): number | undefined {
  const toks = expr.match(/\d+|[A-Za-z_][A-Za-z0-9_]*|[-+*/%()=]/g) ?? [];
  let i = 0;
  const value = (name: string): number => Number.parseInt(vars[name.toUpperCase()] ?? '0', 10) || 0;
  const primary = (): number | undefined => {
    const t = toks[i++];
    if (t === undefined) return undefined;
    if (t === '(') {
      const v = sum();
      i++;
      return v;
    }
    if (t === '-') {
      const v = primary();
      return v === undefined ? undefined : -v;
    }
    if (/^\d/.test(t)) return Number(t);
    if (toks[i] === '=') {
      i++;
      const v = sum();
      if (v !== undefined) vars[t.toUpperCase()] = String(v);
      return v;
    }
    return value(t);
  };
  const product = (): number | undefined => {
    let v = primary();
    while (v !== undefined && (toks[i] === '*' || toks[i] === '/' || toks[i] === '%')) {
      const op = toks[i++];
      const r = primary();
      if (r === undefined) return undefined;
      v = op === '*' ? Math.imul(v, r) : op === '/' ? Math.trunc(v / r) : v % r;
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (v !== undefined && (toks[i] === '+' || toks[i] === '-')) {
      const op = toks[i++];
      const r = product();
      if (r === undefined) return undefined;
      v = op === '+' ? (v + r) | 0 : (v - r) | 0;
    }
    return v;
  };
  const v = sum();
  return i === toks.length ? v : undefined;
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
