// findstr.exe: searches lines of files or of standard input for strings or regular expressions (its own
// dialect: . * ^ $ [class] \< \>), with /i /v /n /c: /l /r /x /b /e /m, printing matching lines (prefixed with
// the file name when several files are searched) and exiting 0 when something matched, 1 when nothing did.
import nodePath from 'node:path';
import type { Io } from './io.js';
import type { WindowsMachine } from './machine.js';

const CRLF = '\r\n';

/** findstr's regular expressions in JavaScript's syntax. */
function findstrRegex(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const n = pattern[++i] ?? '\\';
      out += n === '<' || n === '>' ? '\\b' : n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += pattern.slice(i, end + 1);
        i = end;
      }
    } else if ('.*^$'.includes(c)) out += c;
    else out += c.replace(/[+?{}()|\]]/g, '\\$&');
  }
  return out;
}

function linesOf(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function findstr(m: WindowsMachine, args: string[], io: Io): number {
  const opts = new Set<string>();
  const strings: string[] = [];
  const rest: string[] = [];
  for (const a of args) {
    if (/^\/c:/i.test(a)) {
      strings.push(a.slice(3));
      opts.add('c');
    } else if (/^\/[a-z]+$/i.test(a)) for (const o of a.slice(1).toLowerCase()) opts.add(o);
    else rest.push(a);
  }
  // Without /c: the first argument holds the search strings, separated by spaces.
  if (!opts.has('c')) {
    const first = rest.shift();
    if (first === undefined) {
      io.err(`FINDSTR: Bad command line${CRLF}`);
      return 2;
    }
    strings.push(...first.split(' ').filter((s) => s !== ''));
  }
  const literal = opts.has('l') || (opts.has('c') && !opts.has('r'));
  const flags = opts.has('i') ? 'i' : '';
  const tests = strings.map((s) => {
    let body = literal ? s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : findstrRegex(s);
    if (opts.has('x')) body = `^(?:${body})$`;
    else if (opts.has('b')) body = `^(?:${body})`;
    else if (opts.has('e')) body = `(?:${body})$`;
    return new RegExp(body, flags);
  });
  const matches = (line: string): boolean => tests.some((t) => t.test(line)) !== opts.has('v');
  const sources: Array<{ name: string; text: string }> = [];
  for (const f of rest) {
    const data = m.readFile(f);
    if (!data) {
      io.err(`FINDSTR: Cannot open ${f}${CRLF}`);
      continue;
    }
    sources.push({ name: f, text: data.toString('latin1') });
  }
  if (rest.length === 0) sources.push({ name: '', text: io.stdin ?? '' });
  let found = false;
  for (const src of sources) {
    const lines = linesOf(src.text);
    for (const [i, line] of lines.entries()) {
      if (!matches(line)) continue;
      found = true;
      if (opts.has('m')) {
        io.out(src.name + CRLF);
        break;
      }
      const prefix =
        (rest.length > 1 ? `${nodePath.win32.normalize(src.name)}:` : '') + (opts.has('n') ? `${i + 1}:` : '');
      io.out(prefix + line + CRLF);
    }
  }
  return found ? 0 : 1;
}
