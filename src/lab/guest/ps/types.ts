// Type literals and casts: the type names Windows PowerShell 5.1 resolves (accelerators like [int] and full
// names like [System.Text.Encoding]), conversions with .NET's messages when they fail, and the exception types a
// typed catch matches. Anything else is "Unable to find type", as on Windows.
import {
  CUSTOM_OBJECT,
  DotNetError,
  HASHTABLE,
  ORDERED,
  PsChar,
  PsDate,
  PsTimeSpan,
  PsType,
  isDictionary,
  keysOf,
  toStr,
  truthy,
  type PsObject,
} from './values.js';

const ACCELERATORS: Record<string, string> = {
  int: 'System.Int32',
  int32: 'System.Int32',
  long: 'System.Int64',
  int64: 'System.Int64',
  uint32: 'System.UInt32',
  double: 'System.Double',
  single: 'System.Single',
  float: 'System.Single',
  decimal: 'System.Decimal',
  byte: 'System.Byte',
  char: 'System.Char',
  string: 'System.String',
  bool: 'System.Boolean',
  boolean: 'System.Boolean',
  datetime: 'System.DateTime',
  timespan: 'System.TimeSpan',
  void: 'System.Void',
  object: 'System.Object',
  array: 'System.Array',
  hashtable: 'System.Collections.Hashtable',
  ordered: 'ordered',
  pscustomobject: 'System.Management.Automation.PSObject',
  psobject: 'System.Management.Automation.PSObject',
  scriptblock: 'System.Management.Automation.ScriptBlock',
  securestring: 'System.Security.SecureString',
  regex: 'System.Text.RegularExpressions.Regex',
  console: 'System.Console',
  environment: 'System.Environment',
  math: 'System.Math',
  convert: 'System.Convert',
  'text.encoding': 'System.Text.Encoding',
  'io.path': 'System.IO.Path',
  'io.file': 'System.IO.File',
  exception: 'System.Exception',
  systemexception: 'System.SystemException',
  arithmeticexception: 'System.ArithmeticException',
  dividebyzeroexception: 'System.DivideByZeroException',
  invalidcastexception: 'System.InvalidCastException',
  formatexception: 'System.FormatException',
  argumentexception: 'System.ArgumentException',
  invalidoperationexception: 'System.InvalidOperationException',
  unauthorizedaccessexception: 'System.UnauthorizedAccessException',
  'io.ioexception': 'System.IO.IOException',
  'io.filenotfoundexception': 'System.IO.FileNotFoundException',
  'management.automation.runtimeexception': 'System.Management.Automation.RuntimeException',
  'management.automation.itemnotfoundexception': 'System.Management.Automation.ItemNotFoundException',
  'management.automation.sessionstateexception': 'System.Management.Automation.SessionStateException',
  'management.automation.commandnotfoundexception': 'System.Management.Automation.CommandNotFoundException',
  'management.automation.parameterbindingexception': 'System.Management.Automation.ParameterBindingException',
  'management.automation.psinvalidcastexception': 'System.Management.Automation.PSInvalidCastException',
  'management.automation.methodexception': 'System.Management.Automation.MethodException',
  'management.automation.methodinvocationexception': 'System.Management.Automation.MethodInvocationException',
  'management.automation.actionpreferencestopexception': 'System.Management.Automation.ActionPreferenceStopException',
  'microsoft.powershell.commands.writeerrorexception': 'Microsoft.PowerShell.Commands.WriteErrorException',
};

/** Each exception type's base type (the chain a typed catch walks). */
const EXCEPTION_BASE: Record<string, string> = {
  'System.SystemException': 'System.Exception',
  'System.ArithmeticException': 'System.SystemException',
  'System.DivideByZeroException': 'System.ArithmeticException',
  'System.InvalidCastException': 'System.SystemException',
  'System.FormatException': 'System.SystemException',
  'System.ArgumentException': 'System.SystemException',
  'System.InvalidOperationException': 'System.SystemException',
  'System.UnauthorizedAccessException': 'System.SystemException',
  'System.IO.IOException': 'System.SystemException',
  'System.IO.FileNotFoundException': 'System.IO.IOException',
  'System.Management.Automation.RuntimeException': 'System.SystemException',
  'System.Management.Automation.SessionStateException': 'System.Management.Automation.RuntimeException',
  'System.Management.Automation.ItemNotFoundException': 'System.Management.Automation.SessionStateException',
  'System.Management.Automation.CommandNotFoundException': 'System.Management.Automation.RuntimeException',
  'System.Management.Automation.ParameterBindingException': 'System.Management.Automation.RuntimeException',
  'System.Management.Automation.PSInvalidCastException': 'System.InvalidCastException',
  'System.Management.Automation.MethodException': 'System.Management.Automation.RuntimeException',
  'System.Management.Automation.MethodInvocationException': 'System.Management.Automation.MethodException',
  'System.Management.Automation.ActionPreferenceStopException': 'System.Management.Automation.RuntimeException',
  'Microsoft.PowerShell.Commands.WriteErrorException': 'System.SystemException',
  'Microsoft.PowerShell.Commands.ServiceCommandException': 'System.SystemException',
};

/** The full exception type behind an error record's reason (its exception's short name). */
export function exceptionTypeOf(reason: string): string {
  if (reason.includes('.')) return reason;
  const known = Object.keys(EXCEPTION_BASE).find((t) => t.endsWith(`.${reason}`));
  return known ?? `System.${reason}`;
}

/** Does an exception of type `actual` match `catch [wanted]`? */
export function exceptionMatches(actual: string, wanted: string): boolean {
  for (let t: string | undefined = actual; t; t = EXCEPTION_BASE[t]) if (t === wanted) return true;
  return wanted === 'System.Exception';
}

/** The type a literal like `[int]`, `[Text.Encoding]`, `[string[]]` names, or undefined when there is none. */
export function resolveType(written: string): PsType | undefined {
  const array = written.endsWith('[]');
  const base = (array ? written.slice(0, -2) : written).toLowerCase();
  const full = ACCELERATORS[base] ?? ACCELERATORS[base.replace(/^system\./, '')];
  if (!full) return undefined;
  return new PsType(array ? `${full}[]` : full);
}

export function typeNotFound(written: string): DotNetError {
  return new DotNetError(
    `Unable to find type [${written}].`,
    'System.Management.Automation.RuntimeException',
    'TypeNotFound',
  );
}

function castError(v: unknown, type: string, inner: string): DotNetError {
  return new DotNetError(
    `Cannot convert value "${toStr(v)}" to type "${type}". Error: "${inner}"`,
    'System.Management.Automation.PSInvalidCastException',
    'InvalidCastFromStringToInteger',
  );
}

/** Round half to even, as .NET converts a double to an integer. */
export function bankersRound(n: number): number {
  const r = Math.round(n);
  return Math.abs(n % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const RANGES: Record<string, [number, number, string]> = {
  'System.Int32': [-2147483648, 2147483647, 'Value was either too large or too small for an Int32.'],
  'System.Int64': [-(2 ** 63), 2 ** 63 - 1, 'Value was either too large or too small for an Int64.'],
  'System.UInt32': [0, 4294967295, 'Value was either too large or too small for a UInt32.'],
  'System.Byte': [0, 255, 'Value was either too large or too small for an unsigned byte.'],
};

/** A number from a string as PowerShell parses one (decimal, 0x hex, surrounding blanks), or NaN. */
export function parseNumber(s: string): number {
  const t = s.trim();
  if (/^[+-]?0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t.replace(/0x/i, ''), 16) * (t.startsWith('-') ? -1 : 1);
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  return Number.NaN;
}

/** A numeric value of `v` for arithmetic and integer conversions, or NaN. */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null || v === undefined) return 0;
  if (v instanceof PsChar) return v.code;
  if (typeof v === 'string') return v.trim() === '' ? 0 : parseNumber(v);
  return Number.NaN;
}

function toInteger(v: unknown, type: string): number {
  if (v instanceof PsChar) return v.code;
  const n = toNumber(v);
  if (Number.isNaN(n)) {
    const inner =
      typeof v === 'string' ? 'Input string was not in a correct format.' : `Invalid cast from '${v}' to '${type}'.`;
    throw castError(v, type, inner);
  }
  const r = bankersRound(n);
  const [lo, hi, msg] = RANGES[type]!;
  if (r < lo || r > hi) throw castError(v, type, msg);
  return r;
}

/** Invariant-culture DateTime parsing of the forms scripts write. */
export function parseDate(s: string): PsDate | undefined {
  const t = s.trim();
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?Z?$/.exec(t);
  if (m)
    return new PsDate(
      Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), +(m[7] ?? '0').slice(0, 3)),
    );
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?(AM|PM))?)?$/i.exec(t);
  if (m) {
    let h = +(m[4] ?? 0);
    if (m[7]?.toUpperCase() === 'PM' && h < 12) h += 12;
    if (m[7]?.toUpperCase() === 'AM' && h === 12) h = 0;
    return new PsDate(Date.UTC(+m[3]!, +m[1]! - 1, +m[2]!, h, +(m[5] ?? 0), +(m[6] ?? 0)));
  }
  return undefined;
}

/** `[type]value`. */
export function cast(type: PsType, written: string, v: unknown): unknown {
  const name = type.fullName;
  if (name.endsWith('[]')) {
    const element = new PsType(name.slice(0, -2));
    const items = v === null || v === undefined ? [] : Array.isArray(v) ? v : [v];
    return items.map((x) => cast(element, written.slice(0, -2), x));
  }
  if (Array.isArray(v) && name !== 'System.String' && name !== 'System.Object' && name !== 'System.Boolean') {
    if (v.length === 1) return cast(type, written, v[0]);
    throw new DotNetError(
      `Cannot convert the "System.Object[]" value of type "System.Object[]" to type "${name}".`,
      'System.Management.Automation.PSInvalidCastException',
      'ConvertToFinalInvalidCastException',
    );
  }
  switch (name) {
    case 'System.Int32':
    case 'System.Int64':
    case 'System.UInt32':
    case 'System.Byte':
      return toInteger(v, name);
    case 'System.Double':
    case 'System.Single':
    case 'System.Decimal': {
      const n = toNumber(v);
      if (Number.isNaN(n)) throw castError(v, name, 'Input string was not in a correct format.');
      return n;
    }
    case 'System.String':
      return v === null || v === undefined ? '' : toStr(v);
    case 'System.Boolean':
      return truthy(v);
    case 'System.Char': {
      if (v instanceof PsChar) return v;
      if (typeof v === 'number') return new PsChar(toInteger(v, 'System.Int32'));
      const s = toStr(v);
      if (s.length !== 1) throw castError(v, name, 'String must be exactly one character long.');
      return new PsChar(s.charCodeAt(0));
    }
    case 'System.DateTime': {
      if (v instanceof PsDate) return v;
      const d = typeof v === 'string' ? parseDate(v) : undefined;
      if (!d) throw castError(v, name, 'String was not recognized as a valid DateTime.');
      return d;
    }
    case 'System.TimeSpan':
      if (v instanceof PsTimeSpan) return v;
      throw castError(v, name, 'String was not recognized as a valid TimeSpan.');
    case 'System.Void':
      return null;
    case 'System.Object':
    case 'System.Array':
      return v;
    case 'ordered':
    case 'System.Collections.Hashtable':
    case 'System.Management.Automation.PSObject': {
      if (!isDictionary(v)) {
        if (name === 'System.Management.Automation.PSObject') return v;
        throw new DotNetError(
          `Cannot convert the "${toStr(v)}" value of type "${v === null ? 'null' : 'System.Object'}" to type "${name}".`,
          'System.Management.Automation.PSInvalidCastException',
          'ConvertToFinalInvalidCastException',
        );
      }
      const kind = name === 'ordered' ? ORDERED : name === 'System.Collections.Hashtable' ? HASHTABLE : CUSTOM_OBJECT;
      const out: PsObject = { __type: kind };
      for (const k of keysOf(v)) out[k] = v[k];
      return out;
    }
    default:
      throw new DotNetError(
        `Cannot convert the "${toStr(v)}" value of type "System.String" to type "${name}".`,
        'System.Management.Automation.PSInvalidCastException',
        'ConvertToFinalInvalidCastException',
      );
  }
}

/** `value -is [type]`. */
export function isOfType(v: unknown, type: PsType, actual: string): boolean {
  const name = type.fullName;
  if (name === 'System.Object') return v !== null && v !== undefined;
  if (name === 'System.Management.Automation.PSObject') return v !== null && v !== undefined;
  if (name === 'System.Array' || name.endsWith('[]')) return Array.isArray(v);
  if (name === 'System.Collections.Hashtable') return isDictionary(v) && v.__type === HASHTABLE;
  if (name === 'System.Int64' && actual === 'System.Int32') return false;
  return actual === name || (name === 'System.Exception' && actual.endsWith('Exception'));
}
