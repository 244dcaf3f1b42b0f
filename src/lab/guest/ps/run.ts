// Evaluates the parsed PowerShell subset against a simulated Windows: variables, pipelines, script blocks,
// error records with $ErrorActionPreference / -ErrorAction semantics, statement- and script-terminating errors,
// typed try/catch, exit codes as powershell.exe reports them, and native programs through the cmd.exe layer.
// Values live in values.ts, members in members.ts, operators in operators.ts, output in format.ts, cmdlets in
// cmdlets.ts and pipelineCmdlets.ts.
import type { Io } from '../io.js';
import type { WindowsMachine } from '../machine.js';
import { outDefault } from './format.js';
import { callMethod, callStatic, getMember, getStatic, setMember, type MemberHost } from './members.js';
import { binary } from './operators.js';
import { Parser, PsParseError, type Command, type Expr, type Pipeline, type Stmt } from './parse.js';
import { cast, exceptionMatches, exceptionTypeOf, resolveType, toNumber, typeNotFound } from './types.js';
import {
  DotNetError,
  HASHTABLE,
  PsChar,
  PsType,
  ScriptBlock,
  isDictionary,
  isObject,
  keysOf,
  toStr,
  truthy,
  type PsObject,
} from './values.js';

export { SecureString, toStr, truthy, type PsObject } from './values.js';
export { getMember } from './members.js';

export interface ErrorRecord {
  message: string;
  /** e.g. `InvalidOperation`, `ObjectNotFound`. */
  category: string;
  /** e.g. `InvalidPasswordException`. */
  reason: string;
  fqid: string;
  command: string;
  target: string;
  /** The full .NET type of the exception (what a typed catch matches); derived from `reason` when absent. */
  exceptionType?: string;
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

/**
 * A terminating error. `script` errors (throw, -ErrorAction Stop) end the script unless caught; the others
 * (exceptions in expressions, unknown types) end only their statement.
 */
class Terminating extends Error {
  /** Output written before the error left its blocks (output streams out before the error). */
  pending: unknown[] = [];
  constructor(
    readonly record: ErrorRecord,
    readonly script = true,
  ) {
    super(record.message);
  }
}
class ExitSignal {
  pending: unknown[] = [];
  constructor(readonly code: number) {}
}
class ReturnSignal {
  pending: unknown[] = [];
  constructor(readonly value: unknown[]) {}
}
/** `break` / `continue`: leave or go round the innermost loop. */
class LoopSignal {
  pending: unknown[] = [];
  constructor(readonly kind: 'break' | 'continue') {}
}

/** Keeps `out` (output produced before `err` interrupted a block) with the error on its way out. */
function carry(err: unknown, out: unknown[]): unknown {
  if (
    (err instanceof Terminating ||
      err instanceof ExitSignal ||
      err instanceof ReturnSignal ||
      err instanceof LoopSignal) &&
    out.length
  )
    err.pending = [...out, ...err.pending];
  return err;
}

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

function flatten(values: unknown[]): unknown[] {
  return values.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

function unwrap(values: unknown[]): unknown {
  if (values.length === 0) return null;
  return values.length === 1 ? values[0] : values;
}

function versionObject(major: number, minor: number, build: number, revision: number): PsObject {
  return {
    __type: 'System.Version',
    Major: major,
    Minor: minor,
    Build: build,
    Revision: revision,
    __string: `${major}.${minor}.${build}.${revision}`,
  };
}

export class PsRuntime implements MemberHost {
  private readonly vars = new Map<string, unknown>();
  lastSuccess = true;
  readonly errors: ErrorRecord[] = [];
  private readonly lines: string[];
  /** try blocks being run: statement-terminating errors go to their catch instead of the error stream. */
  private tryDepth = 0;
  private readonly functions = new Map<string, Extract<Stmt, { t: 'function' }>>();

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
    this.vars.set('home', `C:\\Users\\${io.user}`);
    this.vars.set('pshome', 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0');
    this.vars.set('psversiontable', {
      __type: HASHTABLE,
      PSVersion: versionObject(5, 1, 20348, 2340),
      PSEdition: 'Desktop',
      BuildVersion: versionObject(10, 0, 20348, 2340),
      CLRVersion: versionObject(4, 0, 30319, 42000),
      PSCompatibleVersions: ['1.0', '2.0', '3.0', '4.0', '5.0', '5.1.20348.2340'],
      SerializationVersion: versionObject(1, 1, 0, 1),
      PSRemotingProtocolVersion: versionObject(2, 3, 0, 0),
      WSManStackVersion: versionObject(3, 0, 0, 0),
    });
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
        const out = await this.guarded(s);
        this.emit(out);
      }
      return this.lastSuccess ? 0 : 1;
    } catch (err) {
      if (
        err instanceof ExitSignal ||
        err instanceof ReturnSignal ||
        err instanceof Terminating ||
        err instanceof LoopSignal
      )
        this.emit(err.pending);
      if (err instanceof ExitSignal) return err.code;
      // break or continue outside a loop ends the script.
      if (err instanceof LoopSignal) return this.lastSuccess ? 0 : 1;
      if (err instanceof ReturnSignal) {
        this.emit(err.value);
        return this.lastSuccess ? 0 : 1;
      }
      if (err instanceof Terminating) {
        this.errors.push(err.record);
        return 1;
      }
      throw err;
    }
  }

  emit(values: unknown[]): void {
    const text = outDefault(flatten(values));
    if (text) this.io.out(text);
  }

  getVar(name: string): unknown {
    const lower = name.toLowerCase();
    if (lower === '?') return this.lastSuccess;
    if (lower === 'psitem') return this.vars.get('_') ?? null;
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

  /** Runs a script block with `$_` bound to `input` (in the caller's scope, as ForEach-Object does). */
  async invoke(block: ScriptBlock, input: unknown): Promise<unknown[]> {
    const saved = this.vars.get('_');
    this.vars.set('_', input);
    try {
      return flatten(await this.block(block.body));
    } catch (err) {
      if (err instanceof ReturnSignal) return flatten([...err.pending, ...err.value]);
      throw err;
    } finally {
      this.vars.set('_', saved);
    }
  }

  private stopPreference(): boolean {
    return /^stop$/i.test(toStr(this.getVar('ErrorActionPreference')));
  }

  /** One statement; a statement-terminating error outside try is written to the error stream and the script goes on. */
  private async guarded(s: Stmt): Promise<unknown[]> {
    try {
      return await this.stmt(s);
    } catch (err) {
      if (err instanceof Terminating && !err.script && this.tryDepth === 0 && !this.stopPreference()) {
        this.errors.push(err.record);
        this.lastSuccess = false;
        return err.pending;
      }
      throw err;
    }
  }

  private async block(stmts: Stmt[]): Promise<unknown[]> {
    const out: unknown[] = [];
    try {
      for (const s of stmts) out.push(...(await this.guarded(s)));
    } catch (err) {
      throw carry(err, out);
    }
    return out;
  }

  private position(line: number): Pick<ErrorRecord, 'line' | 'col' | 'lineText'> {
    const text = this.lines[line - 1]?.replace(/\r$/, '');
    return { line, col: 1 + (text ? text.length - text.trimStart().length : 0), lineText: text?.trim() };
  }

  private async stmt(s: Stmt): Promise<unknown[]> {
    if (this.io.proc.killed) throw new ExitSignal(0xc000013a);
    try {
      return await this.statement(s);
    } catch (err) {
      if (!(err instanceof DotNetError)) throw err;
      throw new Terminating(
        {
          message: err.message,
          category: err.category,
          reason: err.exceptionType.slice(err.exceptionType.lastIndexOf('.') + 1),
          exceptionType: err.exceptionType,
          fqid: err.fqid,
          command: '',
          target: '',
          ...this.position(s.line),
        },
        false,
      );
    }
  }

  private async statement(s: Stmt): Promise<unknown[]> {
    switch (s.t) {
      case 'pipeline':
        return this.pipeline(s.pipe);
      case 'assign': {
        let value: unknown;
        if ('elements' in s.value) {
          const only = s.value.elements.length === 1 ? s.value.elements[0]! : undefined;
          // An expression keeps its value (arrays stay arrays); a pipeline's output is collected.
          value = only?.t === 'expr' ? await this.eval(only.e) : unwrap(await this.pipeline(s.value));
          // $? after an assignment is the success of the command that produced the value.
          if (only?.t === 'expr') this.lastSuccess = true;
        } else value = await this.eval(s.value);
        await this.assign(
          s.target,
          s.op === '=' ? value : binary(s.op.slice(0, 1), await this.eval(s.target), value, this),
        );
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
      case 'try':
        return this.tryStatement(s);
      case 'foreach': {
        const items = await this.eval(s.items);
        const list = items === null ? [] : flatten([items]);
        let i = 0;
        return this.loop(
          async () => {
            if (i >= list.length) return false;
            this.setVar(s.variable, list[i++]);
            return true;
          },
          s.body,
          null,
        );
      }
      case 'while':
        return this.loop(async () => truthy(unwrap(await this.pipeline(s.cond))), s.body, null);
      case 'do': {
        let first = true;
        return this.loop(
          async () => {
            if (first) return !(first = false);
            const v = truthy(unwrap(await this.pipeline(s.cond)));
            return s.until ? !v : v;
          },
          s.body,
          null,
        );
      }
      case 'for': {
        const out: unknown[] = [];
        if (s.init) out.push(...(await this.stmt(s.init)));
        const cond = s.cond;
        out.push(
          ...(await this.loop(async () => (cond ? truthy(unwrap(await this.pipeline(cond))) : true), s.body, s.step)),
        );
        return out;
      }
      case 'break':
      case 'continue':
        throw new LoopSignal(s.t);
      case 'function':
        this.functions.set(s.name.toLowerCase(), s);
        return [];
      case 'exit': {
        const v = s.value ? await this.eval(s.value) : 0;
        const n = toNumber(v);
        throw new ExitSignal(Number.isFinite(n) ? Math.trunc(n) : 0);
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
          ...this.position(s.line),
        });
      }
    }
  }

  /** Runs `body` while `next()` says so, honouring break and continue; `step` runs after each pass (for). */
  private async loop(next: () => Promise<boolean>, body: Stmt[], step: Stmt | null): Promise<unknown[]> {
    const out: unknown[] = [];
    try {
      while (await next()) {
        try {
          out.push(...(await this.block(body)));
        } catch (err) {
          if (!(err instanceof LoopSignal)) throw err;
          out.push(...err.pending);
          if (err.kind === 'break') break;
        }
        if (step) await this.stmt(step);
      }
    } catch (err) {
      throw carry(err, out);
    }
    return out;
  }

  /** Calls a script function: parameters bound by name (-Name value) then by position, the rest in $args. */
  private async callFunction(
    f: Extract<Stmt, { t: 'function' }>,
    c: Command,
    input: unknown[] | undefined,
  ): Promise<unknown[]> {
    const named = new Map<string, unknown>();
    const positional: unknown[] = [];
    for (let i = 0; i < c.args.length; i++) {
      const a = c.args[i]!;
      if (a.param !== undefined) {
        const p = f.params.find((x) => x.name.toLowerCase() === a.param!.toLowerCase());
        if (!p)
          throw new PsError(`A parameter cannot be found that matches parameter name '${a.param}'.`, {
            category: 'InvalidArgument',
            reason: 'ParameterBindingException',
            fqid: `NamedParameterNotFound,${f.name}`,
            target: '',
          });
        if (a.value) named.set(p.name.toLowerCase(), await this.eval(a.value));
        else if (p.type?.toLowerCase() === 'switch') named.set(p.name.toLowerCase(), true);
        else {
          const nextArg = c.args[++i];
          named.set(p.name.toLowerCase(), nextArg?.value ? await this.eval(nextArg.value) : null);
        }
      } else if (a.value) positional.push(await this.eval(a.value));
    }
    const saved = new Map<string, unknown>();
    const bind = (name: string, v: unknown): void => {
      const lower = name.toLowerCase();
      if (!saved.has(lower)) saved.set(lower, this.vars.get(lower));
      this.vars.set(lower, v);
    };
    for (const p of f.params) {
      const lower = p.name.toLowerCase();
      let v: unknown;
      if (named.has(lower)) v = named.get(lower);
      else if (positional.length && p.type?.toLowerCase() !== 'switch') v = positional.shift();
      else if (p.default) v = await this.eval(p.default);
      else v = p.type?.toLowerCase() === 'switch' ? false : null;
      const type = p.type && p.type.toLowerCase() !== 'switch' ? resolveType(p.type) : undefined;
      bind(p.name, type ? cast(type, p.type!, v) : v);
    }
    bind('args', positional);
    bind('input', input ?? []);
    try {
      return flatten(await this.block(f.body));
    } catch (err) {
      if (err instanceof ReturnSignal) return flatten([...err.pending, ...err.value]);
      throw err;
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) this.vars.delete(k);
        else this.vars.set(k, v);
      }
    }
  }

  private async tryStatement(s: Extract<Stmt, { t: 'try' }>): Promise<unknown[]> {
    const out: unknown[] = [];
    const runFinally = async (): Promise<void> => {
      if (s.finallyBody) out.push(...(await this.block(s.finallyBody)));
    };
    // Output the failed block wrote comes before what catch and finally write.
    const absorb = (err: unknown): void => {
      if (
        err instanceof Terminating ||
        err instanceof ExitSignal ||
        err instanceof ReturnSignal ||
        err instanceof LoopSignal
      ) {
        out.push(...err.pending);
        err.pending = [];
      }
    };
    try {
      this.tryDepth++;
      try {
        out.push(...(await this.block(s.body)));
      } finally {
        this.tryDepth--;
      }
    } catch (err) {
      absorb(err);
      if (!(err instanceof Terminating)) {
        await runFinally();
        throw carry(err, out);
      }
      const type = err.record.exceptionType ?? exceptionTypeOf(err.record.reason);
      const clause = s.catches.find(
        (c) =>
          c.types.length === 0 ||
          c.types.some((t) => {
            const resolved = resolveType(t);
            if (!resolved) throw typeNotFound(t);
            return exceptionMatches(type, resolved.fullName);
          }),
      );
      if (!clause) {
        await runFinally();
        throw carry(err, out);
      }
      const saved = this.vars.get('_');
      this.vars.set('_', {
        __type: 'ErrorRecord',
        __record: err.record,
        Exception: { __type: type, Message: err.record.message, __string: `${type}: ${err.record.message}` },
        FullyQualifiedErrorId: err.record.fqid,
        CategoryInfo: {
          __type: 'System.Management.Automation.ErrorCategoryInfo',
          Category: err.record.category,
          Reason: err.record.reason,
          __string: `${err.record.category}: (${err.record.target}) [${err.record.command}], ${err.record.reason}`,
        },
        Message: err.record.message,
      });
      try {
        out.push(...(await this.block(clause.body)));
      } catch (inner) {
        absorb(inner);
        await runFinally();
        throw carry(inner, out);
      } finally {
        this.vars.set('_', saved);
      }
    }
    await runFinally();
    return out;
  }

  private async assign(target: Expr, value: unknown): Promise<void> {
    if (target.t === 'var') return this.setVar(target.name, value);
    if (target.t === 'member' && !target.args) {
      const obj = await this.eval(target.target);
      if (setMember(obj, target.name, value)) return;
      throw new DotNetError(
        `The property '${target.name}' cannot be found on this object. Verify that the property exists and can be set.`,
        'System.Management.Automation.RuntimeException',
        'PropertyAssignmentException',
      );
    }
    if (target.t === 'index') {
      const obj = await this.eval(target.target);
      const index = await this.eval(target.index);
      if (isObject(obj)) {
        const key = keysOf(obj).find((k) => k.toLowerCase() === toStr(index).toLowerCase()) ?? toStr(index);
        obj[key] = value;
        return;
      }
      if (Array.isArray(obj)) {
        const i = toNumber(index);
        if (i < 0 || i >= obj.length)
          throw new DotNetError(
            'Index was outside the bounds of the array.',
            'System.IndexOutOfRangeException',
            'System.IndexOutOfRangeException',
          );
        obj[i] = value;
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

  async pipeline(p: Pipeline): Promise<unknown[]> {
    let input: unknown[] | undefined;
    for (const el of p.elements) {
      if (el.t === 'expr') {
        const v = await this.eval(el.e);
        input = Array.isArray(v) ? v : v === null && el.e.t === 'pipe' ? [] : [v];
        this.lastSuccess = true;
      } else {
        input = await this.invokeCommand(el, input);
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
        out +=
          (
            {
              n: '\n',
              r: '\r',
              t: '\t',
              '0': '\0',
              a: '\x07',
              b: '\b',
              f: '\f',
              v: '\v',
              '`': '`',
              '"': '"',
              $: '$',
            } as Record<string, string>
          )[n] ?? n;
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
          out += toStr(unwrap(flatten(await this.block(inner))));
          i = j;
          continue;
        }
        const m = /^\$([A-Za-z_][A-Za-z0-9_]*(:[A-Za-z_][A-Za-z0-9_]*)?|\?|_)/.exec(raw.slice(i));
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

  private type(written: string): PsType {
    const t = resolveType(written);
    if (!t) throw typeNotFound(written);
    return t;
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
        const out = flatten(await this.block(e.body));
        return e.array ? out : unwrap(out);
      }
      case 'pipe':
        return unwrap(await this.pipeline(e.pipe));
      case 'block':
        return new ScriptBlock(e.body, e.text);
      case 'hash': {
        const o: PsObject = { __type: HASHTABLE };
        for (const [k, v] of e.entries) {
          if (keysOf(o).some((x) => x.toLowerCase() === k.toLowerCase()))
            throw new DotNetError(
              `Duplicate keys '${k}' are not allowed in hash literals.`,
              'System.Management.Automation.RuntimeException',
              'DuplicateKeyInHashLiteral',
            );
          o[k] = await this.eval(v);
        }
        return o;
      }
      case 'type':
        return this.type(e.name);
      case 'cast':
        return cast(this.type(e.type), e.type, await this.eval(e.value));
      case 'unary': {
        const v = await this.eval(e.value);
        if (e.op === '!') return !truthy(v);
        if (e.op === '-join') return (Array.isArray(v) ? v : [v]).map(toStr).join('');
        if (e.op === '-split') return toStr(v).trim().split(/\s+/);
        return binary('-', 0, v, this);
      }
      case 'bin':
        return this.binaryExpr(e.op, e.left, e.right);
      case 'index': {
        const t = await this.eval(e.target);
        const i = await this.eval(e.index);
        if (t === null || t === undefined)
          throw new DotNetError(
            'Cannot index into a null array.',
            'System.Management.Automation.RuntimeException',
            'NullArray',
          );
        const at = (k: unknown): unknown => {
          if (Array.isArray(t)) {
            const n = toNumber(k);
            return t[n < 0 ? t.length + n : n] ?? null;
          }
          if (typeof t === 'string') {
            const n = toNumber(k);
            const ch = t[n < 0 ? t.length + n : n];
            return ch === undefined ? null : new PsChar(ch.charCodeAt(0));
          }
          if (isDictionary(t)) return getMember(t, toStr(k)) ?? null;
          return toNumber(k) === 0 ? t : null;
        };
        return Array.isArray(i) ? i.map(at) : at(i);
      }
      case 'member':
        return this.member(e);
    }
  }

  private async binaryExpr(op: string, l: Expr, r: Expr): Promise<unknown> {
    if (op === '-and') return truthy(await this.eval(l)) && truthy(await this.eval(r));
    if (op === '-or') return truthy(await this.eval(l)) || truthy(await this.eval(r));
    const a = await this.eval(l);
    const b = await this.eval(r);
    return binary(op.replace(/^-(?=[a-z])/, ''), a, b, this);
  }

  setMatches(m: PsObject): void {
    this.vars.set('matches', m);
  }

  private async member(e: Extract<Expr, { t: 'member' }>): Promise<unknown> {
    const target = await this.eval(e.target);
    const args: unknown[] = [];
    for (const a of e.args ?? []) args.push(await this.eval(a));
    if (e.isStatic) {
      if (!(target instanceof PsType))
        throw new DotNetError(
          `Unable to find type [${toStr(target)}].`,
          'System.Management.Automation.RuntimeException',
          'TypeNotFound',
        );
      return e.args ? callStatic(target, e.name, args, this) : (getStatic(target, e.name, this) ?? null);
    }
    if (e.args) {
      const name = e.name.toLowerCase();
      if ((target as { __stdin?: boolean })?.__stdin) {
        if (name === 'readline') return this.io.proc.readLine();
        if (name === 'readtoend') return this.io.proc.readToEnd();
      }
      return callMethod(target, e.name, args, this);
    }
    return getMember(target, e.name) ?? null;
  }

  /** Raises a terminating runtime error (errors in expressions always terminate the statement). */
  fail(message: string, category: string, reason: string, fqid: string): never {
    throw new Terminating({ message, category, reason, fqid, command: '', target: '' }, false);
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
      '%': 'foreach-object',
      foreach: 'foreach-object',
      '?': 'where-object',
      where: 'where-object',
      select: 'select-object',
      sort: 'sort-object',
      measure: 'measure-object',
      ft: 'format-table',
      fl: 'format-list',
      sc: 'set-content',
      ac: 'add-content',
    };
    const key = alias[lower] ?? lower;
    const def = this.cmdlets[key];
    return def ? [key, def] : undefined;
  }

  private async invokeCommand(c: Command, input: unknown[] | undefined): Promise<unknown[]> {
    const target = typeof c.name === 'string' ? c.name : await this.eval(c.name);
    if (target instanceof ScriptBlock) {
      const out = await this.invoke(target, input === undefined ? null : unwrap(input));
      this.lastSuccess = true;
      return out;
    }
    const name = toStr(target);
    const fn = this.functions.get(name.toLowerCase());
    if (fn) {
      try {
        const out = await this.callFunction(fn, c, input);
        this.lastSuccess = true;
        return out;
      } catch (err) {
        if (!(err instanceof PsError)) throw err;
        this.errors.push({
          message: err.message,
          command: fn.name,
          ...err.rec,
          line: c.line,
          col: c.col,
          lineText: c.text,
        });
        this.lastSuccess = false;
        return [];
      }
    }
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
