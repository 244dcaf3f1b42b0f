// Lexer and parser for the subset of PowerShell the engine sends and the answer media runs: statements,
// assignments, pipelines of commands with parameters, the call operator, if/elseif/else, try/catch/finally,
// foreach, exit/throw/return, strings with $var interpolation, arrays, hashtables, member and static access,
// comparison and logical operators. Anything else is a ParseError, reported the way PowerShell reports it.

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
}

const OPERATORS = [
  '-eq',
  '-ne',
  '-gt',
  '-ge',
  '-lt',
  '-le',
  '-like',
  '-notlike',
  '-match',
  '-notmatch',
  '-and',
  '-or',
  '-not',
  '-join',
  '-contains',
  '-notcontains',
  '-ieq',
  '-ine',
];

export function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let space = true;
  const push = (kind: TokKind, value: string, start: number): void => {
    toks.push({ kind, value, line, col: start - lineStart + 1, space });
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
      const m = /^-?(0x[0-9A-Fa-f]+|[0-9]+(\.[0-9]+)?)(?=$|[\s;)}\],|=+])/.exec(src.slice(i));
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
  toks.push({ kind: 'eof', value: '', line, col: i - lineStart + 1, space: true });
  return toks;
}

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
  | { t: 'pipe'; pipe: Pipeline };

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

export type Stmt =
  | { t: 'pipeline'; pipe: Pipeline; line: number }
  | { t: 'assign'; target: Expr; op: '=' | '+='; value: Pipeline | Expr; line: number }
  | { t: 'if'; branches: Array<{ cond: Pipeline; body: Stmt[] }>; otherwise: Stmt[] | null; line: number }
  | { t: 'try'; body: Stmt[]; catchBody: Stmt[] | null; finallyBody: Stmt[] | null; line: number }
  | { t: 'foreach'; variable: string; items: Expr; body: Stmt[]; line: number }
  | { t: 'exit' | 'throw' | 'return'; value: Expr | null; line: number };

const KEYWORDS = new Set([
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
const UNSUPPORTED = new Set([
  'function',
  'while',
  'do',
  'for',
  'switch',
  'param',
  'trap',
  'class',
  'enum',
  'begin',
  'process',
  'end',
  'until',
]);

export class Parser {
  private i = 0;
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
      let catchBody: Stmt[] | null = null;
      let finallyBody: Stmt[] | null = null;
      this.skipEol();
      if (this.isWord('catch')) {
        this.next();
        if (this.peek().kind === 'type') this.next();
        catchBody = this.block();
      }
      const save = this.i;
      this.skipEol();
      if (this.isWord('finally')) {
        this.next();
        finallyBody = this.block();
      } else {
        this.i = save;
      }
      if (!catchBody && !finallyBody)
        throw new PsParseError(
          'The Try statement is missing its Catch or Finally block.',
          t.line,
          t.col,
          'MissingCatchOrFinally',
        );
      return { t: 'try', body, catchBody, finallyBody, line: t.line };
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
      if (this.isOp('=') || this.isOp('+=')) {
        const op = this.next().value as '=' | '+=';
        this.skipEol();
        return { t: 'assign', target, op, value: this.pipeline(), line: t.line };
      }
      this.i = save;
    }
    return { t: 'pipeline', pipe: this.pipeline(), line: t.line };
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
      return { t: 'lit', v: Number(t.value) };
    }
    return this.postfix(this.primary());
  }

  expression(): Expr {
    const first = this.logical();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.next();
      items.push(this.logical());
    }
    return { t: 'array', items };
  }

  private logical(): Expr {
    let left = this.comparison();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'param' && (t.value.toLowerCase() === '-and' || t.value.toLowerCase() === '-or')) {
        this.next();
        this.skipEol();
        left = { t: 'bin', op: t.value.toLowerCase(), left, right: this.comparison() };
      } else return left;
    }
  }

  private comparison(): Expr {
    let left = this.additive();
    for (;;) {
      const t = this.peek();
      const op = t.kind === 'param' ? t.value.toLowerCase() : '';
      if (t.kind === 'param' && OPERATORS.includes(op) && op !== '-and' && op !== '-or' && op !== '-not') {
        this.next();
        left = { t: 'bin', op, left, right: this.additive() };
      } else if (t.kind === 'param' && !OPERATORS.includes(op)) {
        throw new PsParseError(`Unexpected token '${t.value}' in expression or statement.`, t.line, t.col);
      } else return left;
    }
  }

  private additive(): Expr {
    let left = this.unary();
    while (this.isOp('+') || (this.peek().kind === 'num' && this.peek().value.startsWith('-') && this.peek().space)) {
      if (this.isOp('+')) {
        this.next();
        left = { t: 'bin', op: '+', left, right: this.unary() };
      } else {
        const n = this.next();
        left = { t: 'bin', op: '+', left, right: { t: 'lit', v: Number(n.value) } };
      }
    }
    return left;
  }

  private unary(): Expr {
    const t = this.peek();
    if (this.isOp('!') || (t.kind === 'param' && t.value.toLowerCase() === '-not')) {
      this.next();
      return { t: 'unary', op: '!', value: this.unary() };
    }
    if (t.kind === 'type') {
      this.next();
      if (this.isOp('::')) return this.postfix({ t: 'type', name: t.value });
      return { t: 'cast', type: t.value, value: this.unary() };
    }
    return this.postfix(this.primary());
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
          if (!this.isOp(')')) {
            args.push(this.logical());
            while (this.isOp(',')) {
              this.next();
              args.push(this.logical());
            }
          }
          this.expectOp(')');
        }
        e = { t: 'member', target: e, name: n.value, args, isStatic };
      } else if (this.isOp('[') && !this.peek().space) {
        this.next();
        const index = this.expression();
        this.expectOp(']');
        e = { t: 'index', target: e, index };
      } else return e;
    }
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.kind) {
      case 'num':
        return { t: 'lit', v: Number(t.value) };
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
          this.skipEol();
          const p = this.pipeline();
          this.skipEol();
          this.expectOp(')');
          return p.elements.length === 1 && p.elements[0]!.t === 'expr' ? p.elements[0]!.e : { t: 'pipe', pipe: p };
        }
        if (t.value === '$(' || t.value === '@(') {
          const body = this.statements(')');
          this.expectOp(')');
          return { t: 'sub', body, array: t.value === '@(' };
        }
        if (t.value === '@{') {
          const entries: Array<[string, Expr]> = [];
          for (;;) {
            this.skipEol();
            if (this.isOp('}')) break;
            const k = this.next();
            if (k.kind !== 'word' && k.kind !== 'str')
              throw new PsParseError(
                "Missing key before '=' in hash literal.",
                k.line,
                k.col,
                'MissingEqualsInHashLiteral',
              );
            this.expectOp('=');
            entries.push([k.value, this.expression()]);
            if (this.peek().kind === 'eol') this.next();
          }
          this.expectOp('}');
          return { t: 'hash', entries };
        }
        break;
      default:
        break;
    }
    this.i--;
    return this.unexpected();
  }
}
