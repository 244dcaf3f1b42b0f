// PowerShell's binary operators on values: arithmetic (+ - * / %, with the left operand deciding the type),
// comparison (-eq -ne -gt -ge -lt -le, case-insensitive unless -c…, filtering when the left side is a list),
// -like/-match/-replace/-split/-join, containment (-contains -in), type operators (-is -as), the format
// operator -f, the range operator and the bitwise operators.
import { compositeFormat, FormatError } from './dotnetFormat.js';
import { COMPARISON } from './parse.js';
import { cast, isOfType, toNumber } from './types.js';
import {
  DotNetError,
  HASHTABLE,
  PsChar,
  PsDate,
  PsTimeSpan,
  PsType,
  isDictionary,
  keysOf,
  toStr,
  truthy,
  typeName,
  type PsObject,
} from './values.js';

export interface OperatorHost {
  /** Sets $Matches after a successful scalar -match. */
  setMatches(m: PsObject): void;
}

function invalidCast(v: unknown, type: string): DotNetError {
  return new DotNetError(
    `Cannot convert value "${toStr(v)}" to type "${type}". Error: "Input string was not in a correct format."`,
    'System.Management.Automation.PSInvalidCastException',
    'InvalidCastFromStringToInteger',
  );
}

function num(v: unknown, forType: unknown): number {
  const n = toNumber(v);
  if (Number.isNaN(n)) throw invalidCast(v, typeName(forType));
  return n;
}

const divideByZero = (): DotNetError =>
  new DotNetError('Attempted to divide by zero.', 'System.DivideByZeroException', 'RuntimeException');

export function add(a: unknown, b: unknown): unknown {
  if (Array.isArray(a)) return [...a, ...(Array.isArray(b) ? b : [b])];
  if (a === null || a === undefined) return b;
  if (isDictionary(a) && isDictionary(b)) {
    const out: PsObject = { ...a };
    for (const k of keysOf(b)) out[k] = b[k];
    return out;
  }
  if (a instanceof PsDate && b instanceof PsTimeSpan) return new PsDate(a.ms + b.ms);
  if (typeof a === 'number' || typeof a === 'boolean' || a instanceof PsChar) return toNumber(a) + num(b, a);
  return toStr(a) + toStr(b);
}

function subtract(a: unknown, b: unknown): unknown {
  if (a instanceof PsDate && b instanceof PsDate) return new PsTimeSpan(a.ms - b.ms);
  if (a instanceof PsDate && b instanceof PsTimeSpan) return new PsDate(a.ms - b.ms);
  return num(a, 0) - num(b, 0);
}

function multiply(a: unknown, b: unknown): unknown {
  if (typeof a === 'string') return a.repeat(Math.max(0, Math.trunc(num(b, 0))));
  if (Array.isArray(a)) return Array.from({ length: Math.max(0, Math.trunc(num(b, 0))) }, () => a).flat();
  return num(a, 0) * num(b, 0);
}

/** A comparable form of `b` for a comparison whose left operand is `a`. */
function compare(a: unknown, b: unknown, cs: boolean): number {
  if (typeof a === 'number' || typeof a === 'boolean') {
    const y = toNumber(b);
    const x = toNumber(a);
    if (!Number.isNaN(y)) return x === y ? 0 : x < y ? -1 : 1;
  }
  if (a instanceof PsDate && b instanceof PsDate) return Math.sign(a.ms - b.ms);
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1;
  let x = toStr(a);
  let y = toStr(b);
  if (!cs) {
    x = x.toLowerCase();
    y = y.toLowerCase();
  }
  return x === y ? 0 : x.localeCompare(y, 'en-US') < 0 ? -1 : 1;
}

export function equals(a: unknown, b: unknown, cs = false): boolean {
  if (a === null || a === undefined) return b === null || b === undefined;
  if (b === null || b === undefined) return false;
  if (typeof a === 'boolean') return a === truthy(b);
  if (typeof a === 'number') {
    const y = toNumber(b);
    return !Number.isNaN(y) && a === y;
  }
  if (typeof a === 'object' && !(a instanceof PsChar) && !(a instanceof PsDate)) return a === b;
  return compare(a, b, cs) === 0;
}

export function likeToRegex(pattern: string, cs: boolean): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end > i) {
        re += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      } else re += '\\[';
    } else if (c === '`' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, cs ? 's' : 'is');
}

function regex(pattern: string, cs: boolean, global = false): RegExp {
  try {
    return new RegExp(pattern, (cs ? '' : 'i') + (global ? 'g' : ''));
  } catch {
    throw new DotNetError(
      `The regular expression pattern ${pattern} is not valid.`,
      'System.Management.Automation.RuntimeException',
      'InvalidRegularExpression',
    );
  }
}

/** .NET replacement syntax ($1, ${name}, $0, $$) in JavaScript's. */
function jsReplacement(s: string): string {
  return s.replace(/\$(\$|\{(\w+)\}|0|&)/g, (all, what: string, name?: string) =>
    what === '$' ? '$$' : name ? (/^\d+$/.test(name) ? `$${name}` : `$<${name}>`) : '$&',
  );
}

function flat(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

/** Applies `-op` (without the dash, lower case) to evaluated operands. */
export function binary(op: string, a: unknown, b: unknown, host: OperatorHost): unknown {
  const cs = op.startsWith('c') && COMPARISON.has(op.slice(1));
  const base = (op.startsWith('c') || op.startsWith('i')) && COMPARISON.has(op.slice(1)) ? op.slice(1) : op;
  switch (base) {
    case '+':
      return add(a, b);
    case '-':
      return subtract(a, b);
    case '*':
      return multiply(a, b);
    case '/': {
      const d = num(b, 0);
      if (d === 0) throw divideByZero();
      return num(a, 0) / d;
    }
    case '%': {
      const d = num(b, 0);
      if (d === 0) throw divideByZero();
      return num(a, 0) % d;
    }
    case '..': {
      const from = Math.trunc(num(a, 0));
      const to = Math.trunc(num(b, 0));
      const step = from <= to ? 1 : -1;
      return Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => from + i * step);
    }
    case 'eq':
    case 'ne': {
      const want = base === 'eq';
      if (Array.isArray(a)) return a.filter((x) => equals(x, b, cs) === want);
      return equals(a, b, cs) === want;
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      const test = (x: unknown): boolean => {
        const c = compare(x, b, cs);
        return base === 'gt' ? c > 0 : base === 'ge' ? c >= 0 : base === 'lt' ? c < 0 : c <= 0;
      };
      return Array.isArray(a) ? a.filter(test) : test(a);
    }
    case 'like':
    case 'notlike': {
      const re = likeToRegex(toStr(b), cs);
      const want = base === 'like';
      return Array.isArray(a) ? a.filter((x) => re.test(toStr(x)) === want) : re.test(toStr(a)) === want;
    }
    case 'match':
    case 'notmatch': {
      const re = regex(toStr(b), cs);
      const want = base === 'match';
      if (Array.isArray(a)) return a.filter((x) => re.test(toStr(x)) === want);
      const m = re.exec(toStr(a));
      if (m) {
        const matches: PsObject = { __type: HASHTABLE };
        if (m.groups) for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) matches[k] = v;
        m.forEach((v, i) => {
          if (v !== undefined) matches[String(i)] = v;
        });
        host.setMatches(matches);
      }
      return !!m === want;
    }
    case 'replace': {
      const [pattern, replacement] = Array.isArray(b) ? [b[0], b[1]] : [b, ''];
      const re = regex(toStr(pattern), cs, true);
      const r = (x: unknown): string => toStr(x).replace(re, jsReplacement(toStr(replacement)));
      return Array.isArray(a) ? a.map(r) : r(a);
    }
    case 'split': {
      const [pattern, max] = Array.isArray(b) ? [b[0], b[1]] : [b, undefined];
      const re = regex(toStr(pattern), cs, true);
      return flat(a).flatMap((x) => {
        const parts = toStr(x).split(re);
        const n = max === undefined ? 0 : Math.trunc(toNumber(max));
        return n > 0 && parts.length > n ? [...parts.slice(0, n - 1), parts.slice(n - 1).join(toStr(pattern))] : parts;
      });
    }
    case 'join':
      return flat(a).map(toStr).join(toStr(b));
    case 'contains':
    case 'notcontains':
      return flat(a).some((x) => equals(x, b, cs)) === (base === 'contains');
    case 'in':
    case 'notin':
      return flat(b).some((x) => equals(x, a, cs)) === (base === 'in');
    case 'is':
    case 'isnot':
      if (!(b instanceof PsType))
        throw new DotNetError(
          'The right operand of -is must be a type.',
          'System.Management.Automation.RuntimeException',
          'IsOperatorRequiresType',
        );
      return isOfType(a, b, typeName(a)) === (base === 'is');
    case 'as':
      if (!(b instanceof PsType)) return null;
      try {
        return cast(b, b.fullName, a);
      } catch (err) {
        if (err instanceof DotNetError) return null;
        throw err;
      }
    case 'f':
      try {
        return compositeFormat(toStr(a), Array.isArray(b) ? b : [b]);
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        throw new DotNetError(
          `Error formatting a string: ${err.message}.`,
          'System.Management.Automation.RuntimeException',
          'FormatError',
        );
      }
    case 'band':
      return num(a, 0) & num(b, 0);
    case 'bor':
      return num(a, 0) | num(b, 0);
    case 'bxor':
      return num(a, 0) ^ num(b, 0);
    case 'shl':
      return num(a, 0) << num(b, 0);
    case 'shr':
      return num(a, 0) >> num(b, 0);
    case 'xor':
      return truthy(a) !== truthy(b);
    default:
      throw new DotNetError(
        `The operator '-${op}' is not supported.`,
        'System.Management.Automation.RuntimeException',
        'OperatorNotSupported',
      );
  }
}
