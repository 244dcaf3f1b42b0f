// Lexer and parser for the subset of PowerShell the engine sends and the answer media runs: statements,
// assignments, pipelines of commands with parameters, script blocks, the call operator, if/elseif/else,
// try/catch (typed)/finally, foreach, exit/throw/return, strings and here-strings with $var interpolation,
// arrays, hashtables, member and static access, casts, and the operators with PowerShell's precedence (cast,
// comma, range, -f, * / %, + -, comparison, logical). Anything else is a ParseError, reported as PowerShell
// reports it.

export class PsParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly col: number,
    readonly errorId = 'UnexpectedToken',
  ) {
    super(message);
  }
}

type TokKind = 'eol' | 'var' | 'str' | 'xstr' | 'num' | 'word' | 'param' | 'op' | 'type' | 'eof';
export interface Tok {
  kind: TokKind;
  value: string;
  line: number;
  col: number;
  /** Whitespace precedes this token (separates command arguments). */
  space: boolean;
  /** Offset in the source. */
  pos: number;
}

export function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let space = true;
  const push = (kind: TokKind, value: string, start: number): void => {
    toks.push({ kind, value, line, col: start - lineStart + 1, space, pos: start });
    space = false;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      push('eol', '\n', i);
      i++;
      line++;
      lineStart = i;
      space = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      space = true;
      continue;
    }
    if (c === '`' && (src[i + 1] === '\n' || src[i + 1] === '\r')) {
      i += src[i + 1] === '\r' ? 3 : 2;
      line++;
      lineStart = i;
      space = true;
      continue;
    }
    if (c === '<' && src[i + 1] === '#') {
      const end = src.indexOf('#>', i + 2);
      if (end < 0)
        throw new PsParseError(
          'Missing the end of the block comment.',
          line,
          i - lineStart + 1,
          'MissingEndOfBlockComment',
        );
      for (let k = i; k < end; k++) {
        if (src[k] === '\n') {
          line++;
          lineStart = k + 1;
        }
      }
      i = end + 2;
      space = true;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const start = i;
    if (c === ';') {
      push('eol', ';', start);
      i++;
      space = true;
      continue;
    }
    if (c === '$') {
      if (src[i + 1] === '{') {
        const end = src.indexOf('}', i + 2);
        if (end < 0) throw new PsParseError('Missing closing "}" in variable name.', line, i - lineStart + 1);
        i = end + 1;
        push('var', src.slice(start + 2, end), start);
        continue;
      }
      if (src[i + 1] === '(') {
        push('op', '$(', start);
        i += 2;
        continue;
      }
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*(:[A-Za-z_][A-Za-z0-9_]*)?|\?|_)/.exec(src.slice(i));
      if (!m)
        throw new PsParseError(
          "Variable reference is not valid. '$' was not followed by a valid variable name character.",
          line,
          i - lineStart + 1,
          'InvalidVariableReference',
        );
      i += m[0].length;
      push('var', m[1]!, start);
      continue;
    }
    if (c === "'" || c === '\u2018' || c === '\u2019') {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length)
          throw new PsParseError(
            "The string is missing the terminator: '.",
            line,
            start - lineStart + 1,
            'TerminatorExpectedAtEndOfString',
          );
        const d = src[i]!;
        if (d === "'" || d === '\u2018' || d === '\u2019' || d === '\u201A' || d === '\u201B') {
          const n = src[i + 1];
          if (n === "'" || n === '\u2018' || n === '\u2019' || n === '\u201A' || n === '\u201B') {
            s += d;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === '\n') {
          line++;
          lineStart = i + 1;
        }
        s += d;
        i++;
      }
      push('str', s, start);
      continue;
    }
    if (c === '"') {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length)
          throw new PsParseError(
            'The string is missing the terminator: ".',
            line,
            start - lineStart + 1,
            'TerminatorExpectedAtEndOfString',
          );
        const d = src[i]!;
        if (d === '`') {
          const n = src[i + 1] ?? '';
          s += '`' + n;
          i += 2;
          continue;
        }
        if (d === '"') {
          if (src[i + 1] === '"') {
            s += '`"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === '\n') {
          line++;
          lineStart = i + 1;
        }
        s += d;
        i++;
      }
      push('xstr', s, start);
      continue;
    }
    if (c === '[') {
      const m = /^\[([A-Za-z_][A-Za-z0-9_.]*(\[\])?)\]/.exec(src.slice(i));
      const prev = toks[toks.length - 1];
      const afterValue =
        prev && !space && (prev.kind === 'var' || (prev.kind === 'op' && (prev.value === ')' || prev.value === ']')));
      if (m && !afterValue) {
        i += m[0].length;
        push('type', m[1]!, start);
        continue;
      }
    }
    const here = c === '@' ? /^@(["'])[ \t]*\r?\n/.exec(src.slice(i)) : null;
    if (here) {
      // A here-string: from the line after @" to the line that starts with "@ (about_Quoting_Rules).
      const q = here[1]!;
      const bodyStart = i + here[0].length;
      const close = new RegExp(`\\r?\\n${q}@`).exec(src.slice(bodyStart - 1));
      if (!close)
        throw new PsParseError(
          `The string is missing the terminator: ${q}@.`,
          line,
          start - lineStart + 1,
          'TerminatorExpectedAtEndOfString',
        );
      const end = bodyStart - 1 + close.index;
      const body = end < bodyStart ? '' : src.slice(bodyStart, end);
      push(q === '"' ? 'xstr' : 'str', q === '"' ? body.replace(/"/g, '`"') : body, start);
      const stop = end + close[0].length;
      for (let k = i; k < stop; k++) {
        if (src[k] === '\n') {
          line++;
          lineStart = k + 1;
        }
      }
      i = stop;
      continue;
    }
    if (c === '.' && src[i + 1] === '.') {
      push('op', '..', start);
      i += 2;
      continue;
    }
    // * / % - between values are operators; elsewhere they start words (paths, switches like /c, the % alias).
    const prev = toks[toks.length - 1];
    const afterValue =
      !!prev &&
      (prev.kind === 'var' ||
        prev.kind === 'num' ||
        prev.kind === 'str' ||
        prev.kind === 'xstr' ||
        (prev.kind === 'op' && (prev.value === ')' || prev.value === ']')));
    // (`& 'x.exe' /quiet` passes /quiet: an operator is followed by a space or an operand, not a letter.)
    if ('*/%'.includes(c) && afterValue && /[\s\d$('"[-]/.test(src[i + 1] ?? '')) {
      push('op', c, start);
      i++;
      continue;
    }
    if (c === '-' && afterValue && /[\s($]/.test(src[i + 1] ?? '')) {
      push('op', '-', start);
      i++;
      continue;
    }
    if (c === '-' && /[\s($[]/.test(src[i + 1] ?? '') && (!prev || prev.kind === 'op' || prev.kind === 'eol')) {
      push('op', '-', start);
      i++;
      continue;
    }
    if (c === '@' && (src[i + 1] === '(' || src[i + 1] === '{')) {
      push('op', '@' + src[i + 1], start);
      i += 2;
      continue;
    }
    if (c === ':' && src[i + 1] === ':') {
      push('op', '::', start);
      i += 2;
      continue;
    }
    if (c === '+' && src[i + 1] === '=') {
      push('op', '+=', start);
      i += 2;
      continue;
    }
    if (c === '+' && src[i + 1] === '+') {
      push('op', '++', start);
      i += 2;
      continue;
    }
    {
      const p = toks[toks.length - 1];
      const afterVar = !!p && (p.kind === 'var' || (p.kind === 'op' && (p.value === ')' || p.value === ']')));
      if (afterVar && '-*/%'.includes(c) && src[i + 1] === '=') {
        push('op', c + '=', start);
        i += 2;
        continue;
      }
      if (afterVar && c === '-' && src[i + 1] === '-') {
        push('op', '--', start);
        i += 2;
        continue;
      }
    }
    if ('(){}[],|=+!&.'.includes(c)) {
      // A '.' that starts a path or a bare word is not member access.
      if (c === '.' && (space || !toks.length) && /[\\/A-Za-z0-9]/.test(src[i + 1] ?? '')) {
        // fall through to the word reader
      } else {
        push('op', c, start);
        i++;
        continue;
      }
    }
    if (c === '-' && /[A-Za-z]/.test(src[i + 1] ?? '')) {
      const m = /^-[A-Za-z][A-Za-z0-9_]*:?/.exec(src.slice(i))!;
      i += m[0].length;
      push('param', m[0], start);
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^-?(0x[0-9A-Fa-f]+|[0-9]+(\.[0-9]+)?)(kb|mb|gb|tb|pb)?(?=$|[\s;)}\],|=+*/%-]|\.\.)/i.exec(
        src.slice(i),
      );
      if (m) {
        i += m[0].length;
        push('num', m[0], start);
        continue;
      }
    }
    // After '.' or '::' comes a member name: an identifier only.
    const last = toks[toks.length - 1];
    if (last && last.kind === 'op' && (last.value === '.' || last.value === '::') && !space) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      if (m) {
        i += m[0].length;
        push('word', m[0], start);
        continue;
      }
    }
    // A bare word: command names, paths, arguments like /i or C:\x\y.msi.
    let w = '';
    while (i < src.length && !/[\s;(){}|,'"$]/.test(src[i]!) && !(src[i] === '=' && w === '')) {
      if (src[i] === '=' && !/[A-Za-z0-9_]$/.test(w)) break;
      w += src[i++];
    }
    if (!w) throw new PsParseError(`Unexpected token '${c}' in expression or statement.`, line, start - lineStart + 1);
    push('word', w, start);
  }
  toks.push({ kind: 'eof', value: '', line, col: i - lineStart + 1, space: true, pos: i });
  return toks;
}

const MULTIPLIERS: Record<string, number> = { kb: 2 ** 10, mb: 2 ** 20, gb: 2 ** 30, tb: 2 ** 40, pb: 2 ** 50 };

/** A numeric literal: decimal, 0x hex, with an optional kb/mb/gb/tb/pb multiplier (about_Numeric_Literals). */
export function numberLiteral(text: string): number {
  const m = /^(-?)(0x[0-9a-f]+|[0-9]+(?:\.[0-9]+)?)(kb|mb|gb|tb|pb)?$/i.exec(text);
  if (!m) return Number.NaN;
  const n = m[2]!.toLowerCase().startsWith('0x') ? Number.parseInt(m[2]!.slice(2), 16) : Number(m[2]);
  return (m[1] ? -1 : 1) * n * (m[3] ? MULTIPLIERS[m[3].toLowerCase()]! : 1);
}

/** The comparison operators (each also with the c… and i… case prefixes). */
export const COMPARISON = new Set([
  'eq',
  'ne',
  'gt',
  'ge',
  'lt',
  'le',
  'like',
  'notlike',
  'match',
  'notmatch',
  'contains',
  'notcontains',
  'in',
  'notin',
  'replace',
  'split',
]);

/** Every binary operator the parser accepts after '-' (with the c/i case prefixes where they exist). */
export const BINARY_OPERATORS = new Set([
  ...[...COMPARISON].flatMap((o) => [o, `c${o}`, `i${o}`]),
  'join',
  'is',
  'isnot',
  'as',
  'f',
  'band',
  'bor',
  'bxor',
  'shl',
  'shr',
  'and',
  'or',
  'xor',
]);

// ---- AST ----
export type Expr =
  | { t: 'lit'; v: unknown }
  | { t: 'xstr'; raw: string }
  | { t: 'var'; name: string }
  | { t: 'array'; items: Expr[] }
  | { t: 'sub'; body: Stmt[]; array: boolean }
  | { t: 'hash'; entries: Array<[string, Expr]> }
  | { t: 'member'; target: Expr; name: string; args: Expr[] | null; isStatic: boolean }
  | { t: 'index'; target: Expr; index: Expr }
  | { t: 'type'; name: string }
  | { t: 'cast'; type: string; value: Expr }
  | { t: 'unary'; op: string; value: Expr }
  | { t: 'bin'; op: string; left: Expr; right: Expr }
  | { t: 'pipe'; pipe: Pipeline }
  | { t: 'block'; body: Stmt[]; text: string };

export interface CommandArg {
  param?: string;
  value?: Expr;
}
export interface Command {
  t: 'cmd';
  name: Expr | string;
  args: CommandArg[];
  line: number;
  col: number;
  text: string;
}
export type Element = Command | { t: 'expr'; e: Expr };
export interface Pipeline {
  elements: Element[];
}

export type AssignOp = '=' | '+=' | '-=' | '*=' | '/=' | '%=';

/** `catch [T1], [T2] { … }`; no types catches everything. */
export interface CatchClause {
  types: string[];
  body: Stmt[];
}

export type Stmt =
  | { t: 'pipeline'; pipe: Pipeline; line: number }
  | { t: 'assign'; target: Expr; op: AssignOp; value: Pipeline | Expr; line: number }
  | { t: 'if'; branches: Array<{ cond: Pipeline; body: Stmt[] }>; otherwise: Stmt[] | null; line: number }
  | { t: 'try'; body: Stmt[]; catches: CatchClause[]; finallyBody: Stmt[] | null; line: number }
  | { t: 'foreach'; variable: string; items: Expr; body: Stmt[]; line: number }
  | { t: 'exit' | 'throw' | 'return'; value: Expr | null; line: number }
  | { t: 'while'; cond: Pipeline; body: Stmt[]; line: number }
  | { t: 'do'; body: Stmt[]; cond: Pipeline; until: boolean; line: number }
  | { t: 'for'; init: Stmt | null; cond: Pipeline | null; step: Stmt | null; body: Stmt[]; line: number }
  | { t: 'break' | 'continue'; line: number }
  | { t: 'function'; name: string; params: ParamDef[]; body: Stmt[]; line: number };

/** A parameter of a function: `[type]$Name = default`. */
export interface ParamDef {
  name: string;
  type: string | null;
  default: Expr | null;
}

const KEYWORDS = new Set([
  'filter',
  'if',
  'elseif',
  'else',
  'try',
  'catch',
  'finally',
  'foreach',
  'exit',
  'throw',
  'return',
  'function',
  'while',
  'do',
  'for',
  'switch',
  'param',
  'begin',
  'process',
  'end',
  'trap',
  'until',
  'class',
  'enum',
  'in',
]);
const UNSUPPORTED = new Set(['switch', 'filter', 'trap', 'class', 'enum', 'begin', 'process', 'end', 'until']);

export class Parser {
  private i = 0;
  private noComma = false;
  constructor(
    private readonly toks: Tok[],
    private readonly src: string,
  ) {}

  static parse(src: string): Stmt[] {
    const p = new Parser(lex(src), src);
    const body = p.statements(null);
    if (p.peek().kind !== 'eof') p.unexpected();
    return body;
  }

  private peek(o = 0): Tok {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)]!;
  }
  private next(): Tok {
    return this.toks[this.i++] ?? this.toks[this.toks.length - 1]!;
  }
  private isOp(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.kind === 'op' && t.value === v;
  }
  private isWord(v: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && t.value.toLowerCase() === v;
  }
  private expectOp(v: string): void {
    if (!this.isOp(v)) {
      const t = this.peek();
      throw new PsParseError(
        t.kind === 'eof'
          ? `Missing closing '${v}' in statement block or type definition.`
          : `Missing '${v}' before '${t.value}'.`,
        t.line,
        t.col,
        t.kind === 'eof' ? 'MissingEndCurlyBrace' : 'UnexpectedToken',
      );
    }
    this.next();
  }
  unexpected(): never {
    const t = this.peek();
    throw new PsParseError(`Unexpected token '${t.value}' in expression or statement.`, t.line, t.col);
  }
  private skipEol(): void {
    while (this.peek().kind === 'eol') this.next();
  }

  statements(close: string | null): Stmt[] {
    const out: Stmt[] = [];
    for (;;) {
      this.skipEol();
      const t = this.peek();
      if (t.kind === 'eof') {
        if (close)
          throw new PsParseError(
            `Missing closing '${close}' in statement block or type definition.`,
            t.line,
            t.col,
            'MissingEndCurlyBrace',
          );
        return out;
      }
      if (close && this.isOp(close)) return out;
      out.push(this.statement());
      const after = this.peek();
      if (after.kind !== 'eol' && after.kind !== 'eof' && !(close && this.isOp(close))) this.unexpected();
    }
  }

  private block(): Stmt[] {
    this.skipEol();
    this.expectOp('{');
    const body = this.statements('}');
    this.expectOp('}');
    return body;
  }

  private statement(): Stmt {
    const t = this.peek();
    const kw = t.kind === 'word' ? t.value.toLowerCase() : '';
    if (UNSUPPORTED.has(kw))
      throw new PsParseError(
        `The '${t.value}' statement is not supported by this host.`,
        t.line,
        t.col,
        'ReservedKeywordNotAllowed',
      );
    if (kw === 'if') {
      this.next();
      const branches: Array<{ cond: Pipeline; body: Stmt[] }> = [];
      this.expectOp('(');
      const cond = this.pipeline();
      this.expectOp(')');
      branches.push({ cond, body: this.block() });
      let otherwise: Stmt[] | null = null;
      for (;;) {
        const save = this.i;
        this.skipEol();
        if (this.isWord('elseif')) {
          this.next();
          this.expectOp('(');
          const c = this.pipeline();
          this.expectOp(')');
          branches.push({ cond: c, body: this.block() });
        } else if (this.isWord('else')) {
          this.next();
          otherwise = this.block();
          break;
        } else {
          this.i = save;
          break;
        }
      }
      return { t: 'if', branches, otherwise, line: t.line };
    }
    if (kw === 'try') {
      this.next();
      const body = this.block();
      const catches: CatchClause[] = [];
      let finallyBody: Stmt[] | null = null;
      for (;;) {
        const before = this.i;
        this.skipEol();
        if (!this.isWord('catch')) {
          this.i = before;
          break;
        }
        this.next();
        const types: string[] = [];
        while (this.peek().kind === 'type') {
          types.push(this.next().value);
          if (this.isOp(',')) this.next();
        }
        catches.push({ types, body: this.block() });
      }
      const save = this.i;
      this.skipEol();
      if (this.isWord('finally')) {
        this.next();
        finallyBody = this.block();
      } else {
        this.i = save;
      }
      if (!catches.length && !finallyBody)
        throw new PsParseError(
          'The Try statement is missing its Catch or Finally block.',
          t.line,
          t.col,
          'MissingCatchOrFinally',
        );
      return { t: 'try', body, catches, finallyBody, line: t.line };
    }
    if (kw === 'foreach') {
      this.next();
      this.expectOp('(');
      const v = this.next();
      if (v.kind !== 'var') this.unexpected();
      if (!this.isWord('in')) this.unexpected();
      this.next();
      const items = this.expression();
      this.expectOp(')');
      return { t: 'foreach', variable: v.value, items, body: this.block(), line: t.line };
    }
    if (kw === 'while') {
      this.next();
      const cond = this.condition();
      return { t: 'while', cond, body: this.block(), line: t.line };
    }
    if (kw === 'do') {
      this.next();
      const body = this.block();
      this.skipEol();
      const word = this.peek();
      const which = word.kind === 'word' ? word.value.toLowerCase() : '';
      if (which !== 'while' && which !== 'until')
        throw new PsParseError(
          'Missing while or until keyword in do loop.',
          word.line,
          word.col,
          'MissingWhileOrUntilInDoWhile',
        );
      this.next();
      return { t: 'do', body, cond: this.condition(), until: which === 'until', line: t.line };
    }
    if (kw === 'for') {
      this.next();
      this.expectOp('(');
      const part = (end: string): Stmt | null => (this.isOp(end) ? null : this.statement());
      const init = part(';');
      this.expectSeparator();
      const cond = this.isOp(';') ? null : this.pipeline();
      this.expectSeparator();
      const step = part(')');
      this.expectOp(')');
      return { t: 'for', init, cond, step, body: this.block(), line: t.line };
    }
    if (kw === 'break' || kw === 'continue') {
      this.next();
      return { t: kw, line: t.line };
    }
    if (kw === 'function') {
      this.next();
      const name = this.next();
      if (name.kind !== 'word')
        throw new PsParseError('Missing name after function keyword.', name.line, name.col, 'MissingNameAfterFunction');
      let params: ParamDef[] = this.isOp('(') ? this.paramList() : [];
      this.skipEol();
      this.expectOp('{');
      this.skipEol();
      if (this.isWord('param')) {
        this.next();
        params = this.paramList();
      }
      const body = this.statements('}');
      this.expectOp('}');
      return { t: 'function', name: name.value, params, body, line: t.line };
    }
    if (kw === 'exit' || kw === 'throw' || kw === 'return') {
      this.next();
      const n = this.peek();
      const value = n.kind === 'eol' || n.kind === 'eof' || this.isOp('}') ? null : this.expression();
      return { t: kw, value, line: t.line };
    }
    // Assignment: a variable (with optional member access) followed by '=' or '+='.
    if (t.kind === 'var') {
      const save = this.i;
      const target = this.postfix(this.primary());
      if (['=', '+=', '-=', '*=', '/=', '%='].some((o) => this.isOp(o))) {
        const op = this.next().value as AssignOp;
        this.skipEol();
        return { t: 'assign', target, op, value: this.pipeline(), line: t.line };
      }
      if (this.isOp('++') || this.isOp('--')) {
        const op = this.next().value === '++' ? '+=' : '-=';
        return { t: 'assign', target, op, value: { t: 'lit', v: 1 }, line: t.line };
      }
      this.i = save;
    }
    return { t: 'pipeline', pipe: this.pipeline(), line: t.line };
  }

  /** `( pipeline )` of while / do … while|until. */
  private condition(): Pipeline {
    this.expectOp('(');
    this.skipEol();
    const cond = this.pipeline();
    this.skipEol();
    this.expectOp(')');
    return cond;
  }

  /** The `;` (or line break) between the parts of a for statement. */
  private expectSeparator(): void {
    const t = this.peek();
    if (t.kind !== 'eol') this.unexpected();
    this.next();
    this.skipWhile(() => this.peek().kind === 'eol' && this.peek().value === '\n');
  }

  private skipWhile(f: () => boolean): void {
    while (f()) this.next();
  }

  /** `( [type]$a = default, $b )`. */
  private paramList(): ParamDef[] {
    this.expectOp('(');
    const params: ParamDef[] = [];
    this.skipEol();
    while (!this.isOp(')')) {
      const type = this.peek().kind === 'type' ? this.next().value : null;
      const v = this.next();
      if (v.kind !== 'var')
        throw new PsParseError('Missing variable name in parameter list.', v.line, v.col, 'InvalidFunctionParameter');
      let def: Expr | null = null;
      if (this.isOp('=')) {
        this.next();
        def = this.argument();
      }
      params.push({ name: v.value, type, default: def });
      this.skipEol();
      if (this.isOp(',')) this.next();
      this.skipEol();
    }
    this.expectOp(')');
    return params;
  }

  pipeline(): Pipeline {
    const elements: Element[] = [this.element()];
    while (this.isOp('|')) {
      this.next();
      this.skipEol();
      elements.push(this.element());
    }
    return { elements };
  }

  private element(): Element {
    const t = this.peek();
    if (t.kind === 'word' && !KEYWORDS.has(t.value.toLowerCase())) return this.command(t.value);
    if (this.isOp('&') || (this.isOp('.') && this.peek(1).space)) {
      this.next();
      return this.command(this.primary());
    }
    return { t: 'expr', e: this.expression() };
  }

  private command(name: string | Expr): Command {
    const first = this.peek();
    if (typeof name === 'string') this.next();
    const args: CommandArg[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eol' || t.kind === 'eof' || this.isOp('|') || this.isOp(')') || this.isOp('}')) break;
      if (t.kind === 'param') {
        this.next();
        if (t.value.endsWith(':')) args.push({ param: t.value.slice(1, -1), value: this.argValue() });
        else args.push({ param: t.value.slice(1) });
        continue;
      }
      args.push({ value: this.argValue() });
    }
    const end = this.peek();
    const text = this.lineText(first.line).trim();
    void end;
    return { t: 'cmd', name, args, line: first.line, col: first.col, text };
  }

  private lineText(line: number): string {
    return this.src.split('\n')[line - 1]?.replace(/\r$/, '') ?? '';
  }

  /** One argument in command mode: a value, possibly a comma list. */
  private argValue(): Expr {
    const items = [this.argItem()];
    while (this.isOp(',')) {
      this.next();
      items.push(this.argItem());
    }
    return items.length === 1 ? items[0]! : { t: 'array', items };
  }

  private argItem(): Expr {
    const t = this.peek();
    if (t.kind === 'word') {
      this.next();
      // Bare words are strings in argument mode, concatenated with directly adjacent tokens.
      return { t: 'lit', v: t.value };
    }
    if (t.kind === 'num') {
      this.next();
      return { t: 'lit', v: numberLiteral(t.value) };
    }
    return this.postfix(this.primary());
  }

  expression(): Expr {
    return this.logical();
  }

  /** An expression without the comma operator (method arguments). */
  private argument(): Expr {
    const saved = this.noComma;
    this.noComma = true;
    try {
      return this.logical();
    } finally {
      this.noComma = saved;
    }
  }

  /** Parses `f` with the comma operator available again (inside parentheses, blocks, literals). */
  private grouped<T>(f: () => T): T {
    const saved = this.noComma;
    this.noComma = false;
    try {
      return f();
    } finally {
      this.noComma = saved;
    }
  }

  private paramOp(...names: string[]): string | undefined {
    const t = this.peek();
    if (t.kind !== 'param' || t.value.endsWith(':')) return undefined;
    const op = t.value.slice(1).toLowerCase();
    return names.includes(op) ? op : undefined;
  }

  private logical(): Expr {
    let left = this.comparison();
    for (let op = this.paramOp('and', 'or', 'xor'); op; op = this.paramOp('and', 'or', 'xor')) {
      this.next();
      this.skipEol();
      left = { t: 'bin', op: `-${op}`, left, right: this.comparison() };
    }
    return left;
  }

  private comparison(): Expr {
    let left = this.additive();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'param') return left;
      const op = t.value.slice(1).toLowerCase();
      if (!BINARY_OPERATORS.has(op))
        throw new PsParseError(`Unexpected token '${t.value}' in expression or statement.`, t.line, t.col);
      if (op === 'and' || op === 'or' || op === 'xor' || op === 'f') return left;
      this.next();
      this.skipEol();
      left = { t: 'bin', op: `-${op}`, left, right: this.additive() };
    }
  }

  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      if (this.isOp('+') || this.isOp('-')) {
        const op = this.next().value;
        this.skipEol();
        left = { t: 'bin', op, left, right: this.multiplicative() };
      } else if (this.peek().kind === 'num' && this.peek().value.startsWith('-') && this.peek().space) {
        // `5 -3`: a negative literal after a value subtracts.
        const n = this.next();
        left = { t: 'bin', op: '+', left, right: { t: 'lit', v: numberLiteral(n.value) } };
      } else return left;
    }
  }

  private multiplicative(): Expr {
    let left = this.format();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.next().value;
      this.skipEol();
      left = { t: 'bin', op, left, right: this.format() };
    }
    return left;
  }

  private format(): Expr {
    let left = this.range();
    while (this.paramOp('f')) {
      this.next();
      this.skipEol();
      left = { t: 'bin', op: '-f', left, right: this.range() };
    }
    return left;
  }

  private range(): Expr {
    const left = this.arrayLiteral();
    if (!this.isOp('..')) return left;
    this.next();
    return { t: 'bin', op: '..', left, right: this.arrayLiteral() };
  }

  /** The comma operator binds tighter than every binary operator (about_Operator_Precedence). */
  private arrayLiteral(): Expr {
    if (this.isOp(',') && !this.noComma) {
      this.next();
      return { t: 'array', items: [this.unary()] };
    }
    const first = this.unary();
    if (this.noComma || !this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.next();
      this.skipEol();
      items.push(this.unary());
    }
    return { t: 'array', items };
  }

  private unary(): Expr {
    const t = this.peek();
    if (this.isOp('!') || this.paramOp('not')) {
      this.next();
      return { t: 'unary', op: '!', value: this.unary() };
    }
    if (this.isOp('-')) {
      this.next();
      return { t: 'unary', op: '-', value: this.unary() };
    }
    const prefix = this.paramOp('join', 'split');
    if (prefix) {
      this.next();
      return { t: 'unary', op: `-${prefix}`, value: this.unary() };
    }
    if (t.kind === 'type') {
      this.next();
      if (this.isOp('::')) return this.postfix({ t: 'type', name: t.value });
      if (this.startsValue()) return { t: 'cast', type: t.value, value: this.unary() };
      return this.postfix({ t: 'type', name: t.value });
    }
    return this.postfix(this.primary());
  }

  /** Does the next token start an operand (so a type before it is a cast, not a type literal)? */
  private startsValue(): boolean {
    const t = this.peek();
    if (t.kind === 'var' || t.kind === 'str' || t.kind === 'xstr' || t.kind === 'num' || t.kind === 'type') return true;
    if (t.kind === 'param') return ['-not', '-join', '-split'].includes(t.value.toLowerCase());
    return t.kind === 'op' && ['(', '$(', '@(', '@{', '!', '-', '{'].includes(t.value);
  }

  private postfix(e: Expr): Expr {
    for (;;) {
      if ((this.isOp('.') || this.isOp('::')) && !this.peek().space) {
        const isStatic = this.next().value === '::';
        const n = this.next();
        if (n.kind !== 'word')
          throw new PsParseError(
            'Missing property name after reference operator.',
            n.line,
            n.col,
            'MissingPropertyName',
          );
        let args: Expr[] | null = null;
        if (this.isOp('(') && !this.peek().space) {
          this.next();
          args = [];
          this.skipEol();
          if (!this.isOp(')')) {
            args.push(this.argument());
            this.skipEol();
            while (this.isOp(',')) {
              this.next();
              this.skipEol();
              args.push(this.argument());
              this.skipEol();
            }
          }
          this.expectOp(')');
        }
        e = { t: 'member', target: e, name: n.value, args, isStatic };
      } else if (this.isOp('[') && !this.peek().space) {
        this.next();
        const index = this.grouped(() => this.expression());
        this.expectOp(']');
        e = { t: 'index', target: e, index };
      } else return e;
    }
  }

  private hashLiteral(): Expr {
    const entries: Array<[string, Expr]> = [];
    for (;;) {
      this.skipEol();
      if (this.isOp('}')) break;
      const k = this.next();
      if (k.kind !== 'word' && k.kind !== 'str')
        throw new PsParseError("Missing key before '=' in hash literal.", k.line, k.col, 'MissingEqualsInHashLiteral');
      this.expectOp('=');
      entries.push([k.value, this.expression()]);
      if (this.peek().kind === 'eol') this.next();
    }
    this.expectOp('}');
    return { t: 'hash', entries };
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.kind) {
      case 'num':
        return { t: 'lit', v: numberLiteral(t.value) };
      case 'str':
        return { t: 'lit', v: t.value };
      case 'xstr':
        return { t: 'xstr', raw: t.value };
      case 'var':
        return { t: 'var', name: t.value };
      case 'type':
        return { t: 'type', name: t.value };
      case 'op':
        if (t.value === '(') {
          return this.grouped(() => {
            this.skipEol();
            const p = this.pipeline();
            this.skipEol();
            this.expectOp(')');
            return p.elements.length === 1 && p.elements[0]!.t === 'expr' ? p.elements[0]!.e : { t: 'pipe', pipe: p };
          });
        }
        if (t.value === '$(' || t.value === '@(') {
          return this.grouped(() => {
            const body = this.statements(')');
            this.expectOp(')');
            return { t: 'sub', body, array: t.value === '@(' };
          });
        }
        if (t.value === '{') {
          return this.grouped(() => {
            const body = this.statements('}');
            const close = this.peek();
            this.expectOp('}');
            return { t: 'block', body, text: this.src.slice(t.pos + 1, close.pos) };
          });
        }
        if (t.value === '@{') return this.grouped(() => this.hashLiteral());
        break;
      default:
        break;
    }
    this.i--;
    return this.unexpected();
  }
}
