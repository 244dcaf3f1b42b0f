// Evaluates the parsed PowerShell subset against a simulated Windows: variables, pipelines, error records with
// $ErrorActionPreference / -ErrorAction semantics, try/catch, exit codes as powershell.exe reports them, and
// native programs through the cmd.exe layer. Cmdlets live in cmdlets.ts.
import type { Io } from '../io.js';
import type { WindowsMachine } from '../machine.js';
import { Parser, PsParseError, type Command, type Expr, type Pipeline, type Stmt } from './parse.js';

export interface ErrorRecord {
  message: string;
  /** e.g. `InvalidOperation`, `ObjectNotFound`. */
  category: string;
  /** e.g. `InvalidPasswordException`. */
  reason: string;
  fqid: string;
  command: string;
  target: string;
  line?: number;
  col?: number;
  lineText?: string;
}

export class PsError extends Error {
  constructor(
    message: string,
    readonly rec: Omit<ErrorRecord, 'message' | 'command'> & { command?: string },
  ) {
    super(message);
  }
}

class Terminating extends Error {
  constructor(readonly record: ErrorRecord) {
    super(record.message);
  }
}
class ExitSignal {
  constructor(readonly code: number) {}
}
class ReturnSignal {
  constructor(readonly value: unknown[]) {}
}

export class SecureString {
  constructor(readonly plain: string) {}
  toString(): string {
    return 'System.Security.SecureString';
  }
}

export type PsObject = Record<string, unknown> & { __type?: string };

export interface CmdletContext {
  m: WindowsMachine;
  io: Io;
  rt: PsRuntime;
  input: unknown[] | undefined;
}

export interface CmdletDef {
  /** Named parameters (canonical case); switches are those listed in `switches`. */
  params: string[];
  positional?: string[];
  switches?: string[];
  noun?: string;
  run(args: BoundArgs, ctx: CmdletContext): Promise<unknown[]> | unknown[];
}

export class BoundArgs {
  constructor(private readonly values: Map<string, unknown>) {}
  has(name: string): boolean {
    return this.values.has(name.toLowerCase());
  }
  get(name: string): unknown {
    return this.values.get(name.toLowerCase());
  }
  str(name: string): string | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : toStr(v);
  }
  flag(name: string): boolean {
    const v = this.get(name);
    return v !== undefined && v !== false;
  }
}

export function toStr(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return v.map(toStr).join(' ');
  if (v instanceof SecureString) return v.toString();
  if (typeof v === 'object') {
    const o = v as PsObject;
    if (o.__type === 'ErrorRecord') return toStr(o.Message ?? (o.Exception as PsObject | undefined)?.Message);
    return o.__type ?? 'System.Collections.Hashtable';
  }
  return String(v);
}

export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 1 || (v.length === 1 && truthy(v[0]));
  if (v instanceof SecureString) return true;
  return v !== null && v !== undefined && v !== false && v !== 0 && v !== '';
}

export function getMember(target: unknown, name: string): unknown {
  const lower = name.toLowerCase();
  if (typeof target === 'string') {
    if (lower === 'length') return target.length;
    return undefined;
  }
  if (Array.isArray(target)) {
    if (lower === 'count' || lower === 'length') return target.length;
    // Member enumeration: $list.Name gives every item's Name.
    const vals = target.map((t) => getMember(t, name)).filter((v) => v !== undefined);
    return vals.length === 1 ? vals[0] : vals;
  }
  if (target && typeof target === 'object') {
    const key = Object.keys(target).find((k) => k.toLowerCase() === lower);
    return key === undefined ? undefined : (target as Record<string, unknown>)[key];
  }
  return undefined;
}

function flatten(values: unknown[]): unknown[] {
  return values.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

function unwrap(values: unknown[]): unknown {
  if (values.length === 0) return null;
  return values.length === 1 ? values[0] : values;
}

function likeToRegex(pattern: string): RegExp {
  const esc = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${esc}$`, 'i');
}

function eq(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' && typeof b !== 'object') return a.toLowerCase() === toStr(b).toLowerCase();
  if (typeof a === 'number') return a === Number(b);
  if (typeof a === 'boolean') return a === truthy(b);
  return a === b;
}

export class PsRuntime {
  private readonly vars = new Map<string, unknown>();
  lastSuccess = true;
  readonly errors: ErrorRecord[] = [];
  private readonly lines: string[];

  constructor(
    readonly m: WindowsMachine,
    readonly io: Io,
    private readonly cmdlets: Record<string, CmdletDef>,
    private readonly native: (
      name: string,
      args: string[],
      rt: PsRuntime,
    ) => Promise<{ code: number; stdout: string } | null>,
    script: string,
  ) {
    this.lines = script.split('\n');
    this.vars.set('erroractionpreference', 'Continue');
    this.vars.set('progresspreference', 'Continue');
    this.vars.set('true', true);
    this.vars.set('false', false);
    this.vars.set('null', null);
    this.vars.set('lastexitcode', 0);
    this.vars.set('env:computername', m.state.computerName);
  }

  /** Runs a whole script; returns powershell.exe's exit code. Output goes to io.out, errors to this.errors. */
  async runScript(src: string): Promise<number> {
    let stmts: Stmt[];
    try {
      stmts = Parser.parse(src);
    } catch (err) {
      if (!(err instanceof PsParseError)) throw err;
      this.errors.push({
        message: err.message,
        category: 'ParserError',
        reason: 'ParentContainsErrorRecordException',
        fqid: err.errorId,
        command: '',
        target: '',
        line: err.line,
        col: err.col,
        lineText: this.lines[err.line - 1]?.replace(/\r$/, ''),
      });
      return 1;
    }
    try {
      for (const s of stmts) {
        const out = await this.stmt(s);
        this.emit(out);
      }
      return this.lastSuccess ? 0 : 1;
    } catch (err) {
      if (err instanceof ExitSignal) return err.code;
      if (err instanceof ReturnSignal) return this.lastSuccess ? 0 : 1;
      if (err instanceof Terminating) {
        this.errors.push(err.record);
        return 1;
      }
      throw err;
    }
  }

  emit(values: unknown[]): void {
    for (const v of flatten(values)) {
      if (v === null || v === undefined) continue;
      if (typeof v === 'object' && !(v instanceof SecureString)) {
        const o = v as PsObject;
        const keys = Object.keys(o).filter((k) => !k.startsWith('__'));
        const width = Math.max(0, ...keys.map((k) => k.length));
        this.io.out('\r\n' + keys.map((k) => `${k.padEnd(width)} : ${toStr(o[k])}\r\n`).join('') + '\r\n');
      } else this.io.out(toStr(v) + '\r\n');
    }
  }

  getVar(name: string): unknown {
    const lower = name.toLowerCase();
    if (lower === '?') return this.lastSuccess;
    if (lower.startsWith('env:')) {
      const env = this.io.vars[lower.slice(4).toUpperCase()];
      return env ?? null;
    }
    return this.vars.has(lower) ? this.vars.get(lower) : null;
  }

  setVar(name: string, v: unknown): void {
    const lower = name.toLowerCase();
    if (lower.startsWith('env:')) this.io.vars[lower.slice(4).toUpperCase()] = toStr(v);
    else this.vars.set(lower, v);
  }

  private async block(stmts: Stmt[]): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const s of stmts) out.push(...(await this.stmt(s)));
    return out;
  }

  private async stmt(s: Stmt): Promise<unknown[]> {
    if (this.io.proc.killed) throw new ExitSignal(0xc000013a);
    switch (s.t) {
      case 'pipeline':
        return this.pipeline(s.pipe);
      case 'assign': {
        const value = 'elements' in s.value ? unwrap(await this.pipeline(s.value)) : await this.eval(s.value);
        await this.assign(s.target, s.op === '+=' ? this.add(await this.eval(s.target), value) : value);
        return [];
      }
      case 'if': {
        // $? after an if reflects its body, not a condition that failed silently.
        for (const b of s.branches) {
          const hit = truthy(unwrap(await this.pipeline(b.cond)));
          this.lastSuccess = true;
          if (hit) return this.block(b.body);
        }
        return s.otherwise ? this.block(s.otherwise) : [];
      }
      case 'try': {
        try {
          return await this.block(s.body);
        } catch (err) {
          if (!(err instanceof Terminating) || !s.catchBody) throw err;
          const saved = this.vars.get('_');
          this.vars.set('_', {
            __type: 'ErrorRecord',
            __record: err.record,
            Exception: { __type: 'Exception', Message: err.record.message },
            FullyQualifiedErrorId: err.record.fqid,
            Message: err.record.message,
          });
          try {
            return await this.block(s.catchBody);
          } finally {
            this.vars.set('_', saved);
          }
        } finally {
          if (s.finallyBody) await this.block(s.finallyBody);
        }
      }
      case 'foreach': {
        const out: unknown[] = [];
        for (const item of flatten([await this.eval(s.items)])) {
          this.setVar(s.variable, item);
          out.push(...(await this.block(s.body)));
        }
        return out;
      }
      case 'exit': {
        const v = s.value ? await this.eval(s.value) : 0;
        const n = Number(toStr(v));
        throw new ExitSignal(Number.isFinite(n) ? n : 0);
      }
      case 'return':
        throw new ReturnSignal(s.value ? [await this.eval(s.value)] : []);
      case 'throw': {
        // A bare `throw` inside catch rethrows the error being handled.
        const current = this.vars.get('_') as PsObject | undefined;
        if (!s.value && current?.__type === 'ErrorRecord' && current.__record)
          throw new Terminating(current.__record as ErrorRecord);
        const v = s.value ? await this.eval(s.value) : 'ScriptHalted';
        const msg = toStr(v);
        throw new Terminating({
          message: msg,
          category: 'OperationStopped',
          reason: 'RuntimeException',
          fqid: msg,
          command: '',
          target: msg,
          line: s.line,
          col: 1,
          lineText: this.lines[s.line - 1]?.replace(/\r$/, ''),
        });
      }
    }
  }

  private async assign(target: Expr, value: unknown): Promise<void> {
    if (target.t === 'var') return this.setVar(target.name, value);
    if (target.t === 'member') {
      const obj = await this.eval(target.target);
      if (obj && typeof obj === 'object') {
        const key = Object.keys(obj).find((k) => k.toLowerCase() === target.name.toLowerCase()) ?? target.name;
        (obj as Record<string, unknown>)[key] = value;
        return;
      }
    }
    throw new Terminating({
      message: 'The assignment expression is not valid.',
      category: 'ParserError',
      reason: 'ParseException',
      fqid: 'InvalidLeftHandSide',
      command: '',
      target: '',
    });
  }

  private add(a: unknown, b: unknown): unknown {
    if (Array.isArray(a)) return [...a, ...(Array.isArray(b) ? b : [b])];
    if (typeof a === 'number') return a + Number(toStr(b));
    if (a === null || a === undefined) return b;
    return toStr(a) + toStr(b);
  }

  async pipeline(p: Pipeline): Promise<unknown[]> {
    let input: unknown[] | undefined;
    for (const el of p.elements) {
      if (el.t === 'expr') {
        const v = await this.eval(el.e);
        input = Array.isArray(v) ? v : v === null && el.e.t === 'pipe' ? [] : [v];
        this.lastSuccess = true;
      } else {
        input = await this.invoke(el, input);
      }
    }
    return input ?? [];
  }

  private async expandString(raw: string): Promise<string> {
    let out = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i]!;
      if (c === '`') {
        const n = raw[++i] ?? '';
        out += ({ n: '\n', r: '\r', t: '\t', '0': '\0', '`': '`', '"': '"', $: '$' } as Record<string, string>)[n] ?? n;
        continue;
      }
      if (c === '$') {
        if (raw[i + 1] === '{') {
          const end = raw.indexOf('}', i);
          out += toStr(this.getVar(raw.slice(i + 2, end)));
          i = end;
          continue;
        }
        if (raw[i + 1] === '(') {
          let depth = 0;
          let j = i + 1;
          for (; j < raw.length; j++) {
            if (raw[j] === '(') depth++;
            else if (raw[j] === ')' && --depth === 0) break;
          }
          const inner = Parser.parse(raw.slice(i + 2, j));
          out += toStr(unwrap(await this.block(inner)));
          i = j;
          continue;
        }
        const m = /^\$([A-Za-z_][A-Za-z0-9_]*(:[A-Za-z_][A-Za-z0-9_]*)?)/.exec(raw.slice(i));
        if (m) {
          out += toStr(this.getVar(m[1]!));
          i += m[0].length - 1;
          continue;
        }
      }
      out += c;
    }
    return out;
  }

  async eval(e: Expr): Promise<unknown> {
    switch (e.t) {
      case 'lit':
        return e.v;
      case 'xstr':
        return this.expandString(e.raw);
      case 'var':
        return this.getVar(e.name);
      case 'array': {
        const items: unknown[] = [];
        for (const x of e.items) items.push(await this.eval(x));
        return items;
      }
      case 'sub': {
        const out = await this.block(e.body);
        return e.array ? flatten(out) : unwrap(out);
      }
      case 'pipe':
        return unwrap(await this.pipeline(e.pipe));
      case 'hash': {
        const o: PsObject = { __type: 'System.Collections.Hashtable' };
        for (const [k, v] of e.entries) o[k] = await this.eval(v);
        return o;
      }
      case 'type':
        return { __type: `[${e.name}]`, __typeName: e.name.toLowerCase().replace(/^system\./, '') };
      case 'cast': {
        const v = await this.eval(e.value);
        const type = e.type.toLowerCase().replace(/^system\./, '');
        if (type === 'int' || type === 'int32' || type === 'long') return Math.trunc(Number(toStr(v)));
        if (type === 'string') return toStr(v);
        if (type === 'bool') return truthy(v);
        if (type === 'void') return null;
        return this.fail(`Unable to find type [${e.type}].`, 'InvalidOperation', 'RuntimeException', 'TypeNotFound');
      }
      case 'unary':
        return !truthy(await this.eval(e.value));
      case 'bin':
        return this.binary(e.op, e.left, e.right);
      case 'index': {
        const t = await this.eval(e.target);
        const i = await this.eval(e.index);
        if (Array.isArray(t)) return t[Number(i) < 0 ? t.length + Number(i) : Number(i)] ?? null;
        if (typeof t === 'string') return t[Number(i)] ?? null;
        return getMember(t, toStr(i)) ?? null;
      }
      case 'member':
        return this.member(e);
    }
  }

  private async binary(op: string, l: Expr, r: Expr): Promise<unknown> {
    if (op === '-and') return truthy(await this.eval(l)) && truthy(await this.eval(r));
    if (op === '-or') return truthy(await this.eval(l)) || truthy(await this.eval(r));
    const a = await this.eval(l);
    const b = await this.eval(r);
    switch (op) {
      case '+':
        return this.add(a, b);
      case '-eq':
      case '-ieq':
        return Array.isArray(a) ? a.filter((x) => eq(x, b)) : eq(a, b);
      case '-ne':
      case '-ine':
        return Array.isArray(a) ? a.filter((x) => !eq(x, b)) : !eq(a, b);
      case '-gt':
        return Number(a) > Number(b);
      case '-ge':
        return Number(a) >= Number(b);
      case '-lt':
        return Number(a) < Number(b);
      case '-le':
        return Number(a) <= Number(b);
      case '-like':
        return likeToRegex(toStr(b)).test(toStr(a));
      case '-notlike':
        return !likeToRegex(toStr(b)).test(toStr(a));
      case '-match':
        return new RegExp(toStr(b), 'i').test(toStr(a));
      case '-notmatch':
        return !new RegExp(toStr(b), 'i').test(toStr(a));
      case '-join':
        return flatten([a]).map(toStr).join(toStr(b));
      case '-contains':
        return flatten([a]).some((x) => eq(x, b));
      case '-notcontains':
        return !flatten([a]).some((x) => eq(x, b));
    }
    return this.fail(
      `The operator '${op}' is not supported by this host.`,
      'ParserError',
      'ParseException',
      'UnsupportedOperator',
    );
  }

  private async member(e: Extract<Expr, { t: 'member' }>): Promise<unknown> {
    const target = await this.eval(e.target);
    const name = e.name.toLowerCase();
    if (e.isStatic) {
      const type = (target as { __typeName?: string }).__typeName;
      if (type === 'console' && name === 'in') return { __type: 'System.IO.TextReader', __stdin: true };
      if (type === 'environment' && name === 'machinename') return this.m.state.computerName;
      return this.fail(
        `Method invocation failed because [${type}] does not contain a method named '${e.name}'.`,
        'InvalidOperation',
        'RuntimeException',
        'MethodNotFound',
      );
    }
    if (e.args) {
      const args: unknown[] = [];
      for (const a of e.args) args.push(await this.eval(a));
      if ((target as { __stdin?: boolean })?.__stdin) {
        if (name === 'readline') return this.io.proc.readLine();
        if (name === 'readtoend') return this.io.proc.readToEnd();
      }
      if (typeof target === 'string') {
        switch (name) {
          case 'trim':
            return target.trim();
          case 'tolower':
            return target.toLowerCase();
          case 'toupper':
            return target.toUpperCase();
          case 'contains':
            return target.includes(toStr(args[0]));
          case 'startswith':
            return target.toLowerCase().startsWith(toStr(args[0]).toLowerCase());
          case 'endswith':
            return target.toLowerCase().endsWith(toStr(args[0]).toLowerCase());
          case 'replace':
            return target.split(toStr(args[0])).join(toStr(args[1]));
          case 'split':
            return target.split(toStr(args[0]));
          case 'tostring':
            return target;
        }
      }
      if (name === 'tostring') return toStr(target);
      return this.fail(
        `Method invocation failed because [${typeof target === 'string' ? 'System.String' : ((target as PsObject)?.__type ?? 'System.Object')}] does not contain a method named '${e.name}'.`,
        'InvalidOperation',
        'RuntimeException',
        'MethodNotFound',
      );
    }
    const v = getMember(target, e.name);
    return v === undefined ? null : v;
  }

  /** Raises a terminating runtime error (errors in expressions always terminate the statement). */
  fail(message: string, category: string, reason: string, fqid: string): never {
    throw new Terminating({ message, category, reason, fqid, command: '', target: '' });
  }

  private resolveCmdlet(name: string): [string, CmdletDef] | undefined {
    const lower = name.toLowerCase();
    const alias: Record<string, string> = {
      echo: 'write-output',
      write: 'write-output',
      gc: 'get-content',
      rm: 'remove-item',
      del: 'remove-item',
      gsv: 'get-service',
      sleep: 'start-sleep',
      ps: 'get-process',
      gp: 'get-itemproperty',
      cat: 'get-content',
      copy: 'copy-item',
      cp: 'copy-item',
      saps: 'start-process',
      start: 'start-process',
      ni: 'new-item',
    };
    const key = alias[lower] ?? lower;
    const def = this.cmdlets[key];
    return def ? [key, def] : undefined;
  }

  private async invoke(c: Command, input: unknown[] | undefined): Promise<unknown[]> {
    const name = typeof c.name === 'string' ? c.name : toStr(await this.eval(c.name));
    const found = this.resolveCmdlet(name);
    let ea = toStr(this.getVar('ErrorActionPreference'));
    const position = { line: c.line, col: c.col, lineText: c.text };
    try {
      if (!found) {
        const args: string[] = [];
        for (const a of c.args) {
          if (a.param !== undefined) args.push('-' + a.param);
          if (a.value) args.push(...flatten([await this.eval(a.value)]).map(toStr));
        }
        const res = await this.native(name, args, this);
        if (!res) {
          throw new PsError(
            `The term '${name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.`,
            {
              category: 'ObjectNotFound',
              reason: 'CommandNotFoundException',
              fqid: 'CommandNotFoundException',
              target: `${name}:String`,
            },
          );
        }
        this.setVar('LASTEXITCODE', res.code);
        this.lastSuccess = res.code === 0;
        return res.stdout ? res.stdout.replace(/\r?\n$/, '').split(/\r?\n/) : [];
      }
      const [key, def] = found;
      const bound = await this.bind(key, def, c);
      if (bound.has('ErrorAction')) ea = bound.str('ErrorAction') ?? ea;
      const out = await def.run(bound, { m: this.m, io: this.io, rt: this, input });
      this.lastSuccess = true;
      return out;
    } catch (err) {
      if (!(err instanceof PsError)) throw err;
      const record: ErrorRecord = {
        message: err.message,
        command: found?.[0] ? canonical(found[0]) : name,
        ...err.rec,
        ...position,
      };
      this.lastSuccess = false;
      if (/^stop$/i.test(ea)) throw new Terminating(record);
      if (!/^(silentlycontinue|ignore)$/i.test(ea)) this.errors.push(record);
      return [];
    }
  }

  private async bind(key: string, def: CmdletDef, c: Command): Promise<BoundArgs> {
    const values = new Map<string, unknown>();
    const all = [...def.params, ...(def.switches ?? []), 'ErrorAction', 'Force', 'Verbose', 'WarningAction', 'Confirm'];
    const positional = [...(def.positional ?? [])];
    for (let i = 0; i < c.args.length; i++) {
      const a = c.args[i]!;
      if (a.param !== undefined) {
        const lower = a.param.toLowerCase();
        const exact = all.find((p) => p.toLowerCase() === lower);
        const matches = exact ? [exact] : all.filter((p) => p.toLowerCase().startsWith(lower));
        if (lower === 'ea') matches.splice(0, matches.length, 'ErrorAction');
        if (matches.length !== 1) {
          throw new PsError(
            matches.length === 0
              ? `A parameter cannot be found that matches parameter name '${a.param}'.`
              : `Parameter cannot be processed because the parameter name '${a.param}' is ambiguous. Possible matches include: ${matches.map((m) => '-' + m).join(' ')}.`,
            {
              category: 'InvalidArgument',
              reason: 'ParameterBindingException',
              fqid: `NamedParameterNotFound,${commandClass(key)}`,
              target: '',
            },
          );
        }
        const p = matches[0]!;
        const isSwitch = (def.switches ?? []).includes(p) || ['Force', 'Verbose', 'Confirm'].includes(p);
        if (a.value) values.set(p.toLowerCase(), await this.eval(a.value));
        else if (isSwitch) values.set(p.toLowerCase(), true);
        else {
          const nextArg = c.args[i + 1];
          if (!nextArg || nextArg.param !== undefined || !nextArg.value) {
            throw new PsError(
              `Missing an argument for parameter '${p}'. Specify a parameter of type 'System.String' and try again.`,
              {
                category: 'InvalidArgument',
                reason: 'ParameterBindingException',
                fqid: `MissingArgument,${commandClass(key)}`,
                target: '',
              },
            );
          }
          values.set(p.toLowerCase(), await this.eval(nextArg.value));
          i++;
        }
      } else if (a.value) {
        const p = positional.find((x) => !values.has(x.toLowerCase()));
        if (!p) {
          const v = toStr(await this.eval(a.value));
          throw new PsError(`A positional parameter cannot be found that accepts argument '${v}'.`, {
            category: 'InvalidArgument',
            reason: 'ParameterBindingException',
            fqid: `PositionalParameterNotFound,${commandClass(key)}`,
            target: '',
          });
        }
        values.set(p.toLowerCase(), await this.eval(a.value));
      }
    }
    return new BoundArgs(values);
  }
}

export function canonical(key: string): string {
  return key
    .split('-')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('-')
    .replace(/Localuser/, 'LocalUser')
    .replace(/Localgroupmember/, 'LocalGroupMember')
    .replace(/Localgroup/, 'LocalGroup')
    .replace(/Itemproperty/, 'ItemProperty');
}

export function commandClass(key: string): string {
  return `Microsoft.PowerShell.Commands.${canonical(key).replace('-', '')}Command`;
}

/** Renders error records as PowerShell's CLIXML error stream (what powershell.exe writes to a redirected stderr). */
export function errorsToClixml(errors: ErrorRecord[]): string {
  if (errors.length === 0) return '';
  const esc = (s: string): string =>
    s
      .replace(/_x/g, '_x005F_x')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/\r/g, '_x000D_')
      .replace(/\n/g, '_x000A_');
  const lines: string[] = [];
  for (const e of errors) {
    const text: string[] = [];
    text.push(e.command ? `${e.command} : ${e.message}` : e.message);
    if (e.line !== undefined) {
      text.push(`At line:${e.line} char:${e.col ?? 1}`);
      if (e.lineText !== undefined) {
        text.push(`+ ${e.lineText}`);
        text.push(
          `+ ${' '.repeat(Math.max(0, (e.col ?? 1) - 1))}${'~'.repeat(Math.max(1, e.lineText.length - (e.col ?? 1) + 1))}`,
        );
      }
    }
    text.push(`    + CategoryInfo          : ${e.category}: (${e.target}) [${e.command}], ${e.reason}`);
    text.push(`    + FullyQualifiedErrorId : ${e.fqid}`);
    text.push(' ');
    for (const t of text) lines.push(`<S S="Error">${esc(t + '\r\n')}</S>`);
  }
  return `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">${lines.join('')}</Objs>`;
}
