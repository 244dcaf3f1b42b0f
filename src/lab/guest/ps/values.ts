// The values of the PowerShell subset beyond JavaScript's own (string, number, boolean, null, arrays): [char],
// [datetime], [timespan], script blocks, hashtables and [pscustomobject] (plain objects tagged with their .NET
// type in `__type`), and the text the Format-* cmdlets produce. How each converts to a string, to a number, to
// a boolean, and the .NET type name GetType() reports.
import { PsEncoding } from './encodings.js';
import type { Stmt } from './parse.js';

export class SecureString {
  constructor(readonly plain: string) {}
  toString(): string {
    return 'System.Security.SecureString';
  }
}

export class PsChar {
  constructor(readonly code: number) {}
  toString(): string {
    return String.fromCharCode(this.code);
  }
}

/** A local date and time; `ms` counts wall-clock milliseconds from 0001-01-01 as the UTC fields of a JS Date. */
export class PsDate {
  constructor(readonly ms: number) {}
  get date(): Date {
    return new Date(this.ms);
  }
}

export class PsTimeSpan {
  constructor(readonly ms: number) {}
}

export class ScriptBlock {
  constructor(
    readonly body: Stmt[],
    readonly text: string,
  ) {}
  toString(): string {
    return this.text;
  }
}

/** A .NET type as a value: `[int]`, `[Console]` (its static members live in types.ts). */
export class PsType {
  constructor(readonly fullName: string) {}
  toString(): string {
    return this.fullName;
  }
}

/** Lines a Format-* cmdlet produced, written as they are by the host and by Out-String. */
export class FormatText {
  constructor(readonly text: string) {}
}

/**
 * An exception from a .NET member, a conversion or an operator: becomes a terminating error whose exception
 * type (`exceptionType`, a full .NET name) a typed catch can match.
 */
export class DotNetError extends Error {
  constructor(
    message: string,
    readonly exceptionType: string,
    readonly fqid: string,
    readonly category = 'InvalidOperation',
  ) {
    super(message);
  }
}

export type PsObject = Record<string, unknown> & { __type?: string };

/**
 * A COM object (`New-Object -ComObject`): PowerShell reaches its properties and methods through IDispatch, so the
 * object answers them itself. Kept under `__com` of a `System.__ComObject`.
 */
export interface ComDispatch {
  get(name: string): unknown;
  /** False when the object has no such settable property. */
  set(name: string, value: unknown): boolean;
  /** undefined when the object has no such method (PowerShell's "does not contain a method named"). */
  call(name: string, args: unknown[], caller: { user: string }): Promise<unknown> | unknown;
}

export function comDispatch(v: unknown): ComDispatch | undefined {
  return isObject(v) && v.__type === 'System.__ComObject' ? (v.__com as ComDispatch | undefined) : undefined;
}

export const HASHTABLE = 'System.Collections.Hashtable';
export const ORDERED = 'System.Collections.Specialized.OrderedDictionary';
export const CUSTOM_OBJECT = 'System.Management.Automation.PSCustomObject';

export function isObject(v: unknown): v is PsObject {
  return (
    !!v &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    !(v instanceof SecureString) &&
    !(v instanceof PsChar) &&
    !(v instanceof PsDate) &&
    !(v instanceof PsTimeSpan) &&
    !(v instanceof ScriptBlock) &&
    !(v instanceof PsType) &&
    !(v instanceof FormatText) &&
    !(v instanceof PsEncoding)
  );
}

export function isDictionary(v: unknown): v is PsObject {
  return isObject(v) && (v.__type === HASHTABLE || v.__type === ORDERED);
}

export function isCustomObject(v: unknown): v is PsObject {
  return isObject(v) && v.__type === CUSTOM_OBJECT;
}

/** The visible keys of an object (those not starting with `__`), in order. */
export function keysOf(o: PsObject): string[] {
  return Object.keys(o).filter((k) => !k.startsWith('__'));
}

/** A double as .NET Framework's Double.ToString() writes it (15 significant digits). */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n);
  const s = String(Number(n.toPrecision(15)));
  return s.replace(/e([+-])(\d)$/, 'E$10$2').replace(/e/, 'E');
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** A date in the invariant culture ("MM/dd/yyyy HH:mm:ss"), as PowerShell puts it in strings. */
export function invariantDate(d: PsDate): string {
  const x = d.date;
  return `${pad(x.getUTCMonth() + 1)}/${pad(x.getUTCDate())}/${x.getUTCFullYear()} ${pad(x.getUTCHours())}:${pad(x.getUTCMinutes())}:${pad(x.getUTCSeconds())}`;
}

export function timeSpanString(t: PsTimeSpan): string {
  const sign = t.ms < 0 ? '-' : '';
  let ms = Math.abs(t.ms);
  const days = Math.floor(ms / 86_400_000);
  ms -= days * 86_400_000;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const frac = ms % 1000;
  return `${sign}${days ? `${days}.` : ''}${pad(h)}:${pad(m)}:${pad(s)}${frac ? `.${pad(frac, 3)}0000` : ''}`;
}

export function toStr(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return formatNumber(v);
  if (Array.isArray(v)) return v.map(toStr).join(' ');
  if (v instanceof PsDate) return invariantDate(v);
  if (v instanceof PsTimeSpan) return timeSpanString(v);
  if (v instanceof FormatText) return v.text;
  if (typeof v === 'object' && !isObject(v)) return String(v);
  if (typeof v === 'object') {
    const o = v as PsObject;
    if (o.__type === 'ErrorRecord') return toStr(o.Message ?? (o.Exception as PsObject | undefined)?.Message);
    if (o.__type === CUSTOM_OBJECT)
      return `@{${keysOf(o)
        .map((k) => `${k}=${toStr(o[k])}`)
        .join('; ')}}`;
    if (typeof o.__string === 'string') return o.__string;
    return o.__type ?? HASHTABLE;
  }
  return String(v);
}

export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 1 || (v.length === 1 && truthy(v[0]));
  if (v instanceof PsChar) return true;
  if (typeof v === 'object' && v !== null) return true;
  return v !== null && v !== undefined && v !== false && v !== 0 && v !== '';
}

/** The .NET type name of a value (GetType().FullName). */
export function typeName(v: unknown): string {
  if (typeof v === 'string') return 'System.String';
  if (typeof v === 'boolean') return 'System.Boolean';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return 'System.Double';
    return Math.abs(v) <= 2147483647 ? 'System.Int32' : 'System.Int64';
  }
  if (Array.isArray(v)) return 'System.Object[]';
  if (v instanceof PsChar) return 'System.Char';
  if (v instanceof PsDate) return 'System.DateTime';
  if (v instanceof PsTimeSpan) return 'System.TimeSpan';
  if (v instanceof ScriptBlock) return 'System.Management.Automation.ScriptBlock';
  if (v instanceof SecureString) return 'System.Security.SecureString';
  if (v instanceof FormatText) return 'System.String';
  if (v instanceof PsType) return 'System.RuntimeType';
  if (v instanceof PsEncoding) return v.className;
  if (isObject(v)) return v.__type && !v.__type.startsWith('[') ? v.__type : 'System.Object';
  return 'System.Object';
}
