// .NET Framework's formatting in the en-US culture, as PowerShell's -f operator and ToString(format) use it:
// composite format strings ({index[,alignment][:format]}), the standard and custom numeric format strings, and
// the standard and custom date and time format strings. Rounding is away from zero, as .NET formats.
import { PsDate, formatNumber, toStr } from './values.js';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export class FormatError extends Error {}

function roundAway(n: number, digits: number): number {
  const f = 10 ** digits;
  const x = Math.abs(n) * f;
  const r = Math.floor(x + 0.5 + 1e-9 * Math.max(1, x));
  return (Math.sign(n) * r) / f;
}

function group(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function fixed(n: number, digits: number, grouping: boolean): string {
  const r = roundAway(n, digits);
  const [int, frac = ''] = Math.abs(r).toFixed(digits).split('.');
  const sign = r < 0 || (Object.is(r, -0) && n < 0 && digits > 0) ? '-' : '';
  return sign + (grouping ? group(int!) : int!) + (digits > 0 ? '.' + frac : '');
}

function customNumber(n: number, pattern: string): string {
  const dot = pattern.indexOf('.');
  const intPat = dot < 0 ? pattern : pattern.slice(0, dot);
  const fracPat = dot < 0 ? '' : pattern.slice(dot + 1);
  const prefix = /^[^0#,.]*/.exec(intPat)![0];
  const suffix = /[^0#,.]*$/.exec(fracPat || intPat)![0];
  const intDigits = intPat.slice(prefix.length, fracPat ? undefined : intPat.length - suffix.length);
  const fracDigits = fracPat.slice(0, fracPat.length - suffix.length);
  const minInt = (intDigits.match(/0/g) ?? []).length;
  const minFrac = (fracDigits.match(/0/g) ?? []).length;
  const maxFrac = (fracDigits.match(/[0#]/g) ?? []).length;
  const r = roundAway(n, maxFrac);
  let [int, frac = ''] = Math.abs(r).toFixed(maxFrac).split('.');
  while (frac.length > minFrac && frac.endsWith('0')) frac = frac.slice(0, -1);
  int = int!.replace(/^0+/, '').padStart(minInt, '0');
  if (intDigits.includes(',')) int = group(int);
  const pct = pattern.includes('%');
  void pct;
  return (r < 0 ? '-' : '') + prefix + int + (frac ? '.' + frac : '') + suffix;
}

export function formatNumberWith(n: number, format: string): string {
  const m = /^([A-Za-z])(\d{0,2})$/.exec(format);
  if (!m) return customNumber(n, format);
  const spec = m[1]!;
  const precision = m[2] === '' ? undefined : Number(m[2]);
  switch (spec) {
    case 'N':
    case 'n':
      return fixed(n, precision ?? 2, true);
    case 'F':
    case 'f':
      return fixed(n, precision ?? 2, false);
    case 'D':
    case 'd': {
      if (!Number.isInteger(n)) throw new FormatError('Format specifier was invalid.');
      const s = String(Math.abs(n)).padStart(precision ?? 0, '0');
      return (n < 0 ? '-' : '') + s;
    }
    case 'X':
    case 'x': {
      if (!Number.isInteger(n)) throw new FormatError('Format specifier was invalid.');
      const v = n < 0 ? (n >>> 0).toString(16) : n.toString(16);
      const s = v.padStart(precision ?? 0, '0');
      return spec === 'X' ? s.toUpperCase() : s;
    }
    case 'P':
    case 'p':
      return `${fixed(n * 100, precision ?? 2, true)} %`;
    case 'C':
    case 'c': {
      const s = fixed(Math.abs(n), precision ?? 2, true);
      return n < 0 ? `($${s})` : `$${s}`;
    }
    case 'G':
    case 'g':
      return precision ? formatNumber(Number(n.toPrecision(precision))) : formatNumber(n);
    case 'R':
    case 'r':
      return formatNumber(n);
    default:
      throw new FormatError('Format specifier was invalid.');
  }
}

const STANDARD_DATE: Record<string, string> = {
  d: 'M/d/yyyy',
  D: 'dddd, MMMM d, yyyy',
  f: 'dddd, MMMM d, yyyy h:mm tt',
  F: 'dddd, MMMM d, yyyy h:mm:ss tt',
  g: 'M/d/yyyy h:mm tt',
  G: 'M/d/yyyy h:mm:ss tt',
  s: "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
  u: "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
  o: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff",
  O: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff",
  t: 'h:mm tt',
  T: 'h:mm:ss tt',
  M: 'MMMM d',
  m: 'MMMM d',
  y: 'MMMM yyyy',
  Y: 'MMMM yyyy',
};

export function formatDate(d: PsDate, format: string): string {
  const pattern = format.length === 1 ? STANDARD_DATE[format] : format || STANDARD_DATE.G!;
  if (pattern === undefined) throw new FormatError('Input string was not in a correct format.');
  const x = d.date;
  const p = (n: number, w: number): string => String(n).padStart(w, '0');
  let out = '';
  for (let i = 0; i < pattern.length;) {
    const c = pattern[i]!;
    if (c === "'" || c === '"') {
      const end = pattern.indexOf(c, i + 1);
      out += pattern.slice(i + 1, end < 0 ? undefined : end);
      i = end < 0 ? pattern.length : end + 1;
      continue;
    }
    if (c === '\\') {
      out += pattern[i + 1] ?? '';
      i += 2;
      continue;
    }
    let n = 1;
    while (pattern[i + n] === c) n++;
    i += n;
    const h = x.getUTCHours();
    switch (c) {
      case 'y':
        out += n <= 2 ? p(x.getUTCFullYear() % 100, n) : p(x.getUTCFullYear(), n);
        break;
      case 'M':
        out +=
          n >= 4 ? MONTHS[x.getUTCMonth()] : n === 3 ? MONTHS[x.getUTCMonth()]!.slice(0, 3) : p(x.getUTCMonth() + 1, n);
        break;
      case 'd':
        out += n >= 4 ? DAYS[x.getUTCDay()] : n === 3 ? DAYS[x.getUTCDay()]!.slice(0, 3) : p(x.getUTCDate(), n);
        break;
      case 'H':
        out += p(h, Math.min(n, 2));
        break;
      case 'h':
        out += p(h % 12 || 12, Math.min(n, 2));
        break;
      case 'm':
        out += p(x.getUTCMinutes(), Math.min(n, 2));
        break;
      case 's':
        out += p(x.getUTCSeconds(), Math.min(n, 2));
        break;
      case 'f':
      case 'F':
        out += p(x.getUTCMilliseconds(), 3).padEnd(n, '0').slice(0, n);
        break;
      case 't':
        out += (h < 12 ? 'AM' : 'PM').slice(0, n === 1 ? 1 : 2);
        break;
      default:
        out += c.repeat(n);
    }
  }
  return out;
}

/** One value under a format string, as its ToString(format) writes it. */
export function formatValue(v: unknown, format: string): string {
  if (typeof v === 'number') return formatNumberWith(v, format);
  if (v instanceof PsDate) return formatDate(v, format);
  return toStr(v);
}

/** .NET's String.Format: `{index[,alignment][:format]}`, `{{` and `}}` for braces. */
export function compositeFormat(format: string, args: unknown[]): string {
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '{' && format[i + 1] === '{') {
      out += '{';
      i++;
      continue;
    }
    if (c === '}' && format[i + 1] === '}') {
      out += '}';
      i++;
      continue;
    }
    if (c === '}') throw new FormatError('Input string was not in a correct format.');
    if (c !== '{') {
      out += c;
      continue;
    }
    const end = format.indexOf('}', i);
    const m = end < 0 ? null : /^(\d+)\s*(?:,\s*(-?\d+))?\s*(?::(.*))?$/s.exec(format.slice(i + 1, end));
    if (!m) throw new FormatError('Input string was not in a correct format.');
    const index = Number(m[1]);
    if (index >= args.length)
      throw new FormatError(
        'Index (zero based) must be greater than or equal to zero and less than the size of the argument list.',
      );
    const text = m[3] !== undefined ? formatValue(args[index], m[3]) : toStr(args[index]);
    const width = m[2] ? Number(m[2]) : 0;
    out += width < 0 ? text.padEnd(-width) : text.padStart(width);
    i = end;
  }
  return out;
}
