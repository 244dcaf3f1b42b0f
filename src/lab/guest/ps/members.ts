// Members of values: properties and methods of strings, numbers, dates, encodings, arrays, hashtables and custom
// objects, and the static members of the .NET types scripts use ([Console], [Environment], [Math],
// [Text.Encoding], [Convert], [IO.Path], [IO.File], [string], [int], [datetime], [regex]). A method that does not
// exist fails as on Windows ("Method invocation failed because [T] does not contain a method named 'M'."); a
// property that does not exist is $null.
import nodePath from 'node:path';
import type { Io } from '../io.js';
import { WindowsMachine } from '../machine.js';
import { compositeFormat, formatDate, formatValue, FormatError } from './dotnetFormat.js';
import { PsEncoding } from './encodings.js';
import { bankersRound, cast, parseDate, toNumber } from './types.js';
import {
  DotNetError,
  HASHTABLE,
  PsChar,
  PsDate,
  PsTimeSpan,
  PsType,
  ScriptBlock,
  comDispatch,
  isCustomObject,
  isDictionary,
  isObject,
  keysOf,
  toStr,
  truthy,
  typeName,
  type PsObject,
} from './values.js';

/** What members need from the running script: the machine, the process, and running script blocks. */
export interface MemberHost {
  m: WindowsMachine;
  io: Io;
  invoke(block: ScriptBlock, input: unknown): Promise<unknown[]>;
}

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const TICKS_AT_EPOCH = 621355968000000000;

function methodNotFound(type: string, name: string): DotNetError {
  return new DotNetError(
    `Method invocation failed because [${type}] does not contain a method named '${name}'.`,
    'System.Management.Automation.RuntimeException',
    'MethodNotFound',
  );
}

/** A .NET exception inside a method, as PowerShell reports it. */
function methodException(name: string, argc: number, inner: string, fqid = 'DotNetMethodException'): DotNetError {
  return new DotNetError(
    `Exception calling "${name}" with "${argc}" argument(s): "${inner}"`,
    'System.Management.Automation.MethodInvocationException',
    fqid,
  );
}

function bytesOf(v: unknown): number[] {
  const items = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
  return items.map((x) => toNumber(x) & 0xff);
}

function dateProp(d: PsDate, name: string): unknown {
  const x = d.date;
  switch (name) {
    case 'year':
      return x.getUTCFullYear();
    case 'month':
      return x.getUTCMonth() + 1;
    case 'day':
      return x.getUTCDate();
    case 'hour':
      return x.getUTCHours();
    case 'minute':
      return x.getUTCMinutes();
    case 'second':
      return x.getUTCSeconds();
    case 'millisecond':
      return x.getUTCMilliseconds();
    case 'dayofweek':
      return DAY_NAMES[x.getUTCDay()];
    case 'dayofyear':
      return Math.floor((d.ms - Date.UTC(x.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
    case 'date':
      return new PsDate(Date.UTC(x.getUTCFullYear(), x.getUTCMonth(), x.getUTCDate()));
    case 'ticks':
      return d.ms * 10000 + TICKS_AT_EPOCH;
    case 'kind':
      return 'Local';
    default:
      return undefined;
  }
}

function timeSpanProp(t: PsTimeSpan, name: string): unknown {
  const trunc = (n: number): number => Math.trunc(n);
  switch (name) {
    case 'days':
      return trunc(t.ms / 86_400_000);
    case 'hours':
      return trunc(t.ms / 3_600_000) % 24;
    case 'minutes':
      return trunc(t.ms / 60_000) % 60;
    case 'seconds':
      return trunc(t.ms / 1000) % 60;
    case 'milliseconds':
      return trunc(t.ms) % 1000;
    case 'totaldays':
      return t.ms / 86_400_000;
    case 'totalhours':
      return t.ms / 3_600_000;
    case 'totalminutes':
      return t.ms / 60_000;
    case 'totalseconds':
      return t.ms / 1000;
    case 'totalmilliseconds':
      return t.ms;
    case 'ticks':
      return t.ms * 10000;
    default:
      return undefined;
  }
}

function psObjectOf(o: PsObject): PsObject {
  return {
    __type: 'System.Management.Automation.PSObject',
    Properties: keysOf(o).map((k) => ({
      __type: 'System.Management.Automation.PSNoteProperty',
      Name: k,
      Value: o[k],
      MemberType: 'NoteProperty',
      __string: `${typeName(o[k]).replace(/^System\./, '')} ${k}=${toStr(o[k])}`,
    })),
    TypeNames: [o.__type ?? 'System.Object'],
  };
}

/** `$x.Name`: a property, $null when there is none (member enumeration over arrays). */
export function getMember(target: unknown, name: string): unknown {
  const lower = name.toLowerCase();
  if (target === null || target === undefined) return lower === 'count' ? 0 : undefined;
  if (Array.isArray(target)) {
    if (lower === 'count' || lower === 'length') return target.length;
    if (lower === 'rank') return 1;
    const vals = target.map((t) => getMember(t, name)).filter((v) => v !== undefined && v !== null);
    return vals.length === 1 ? vals[0] : vals;
  }
  if (typeof target === 'string') {
    if (lower === 'length') return target.length;
    return lower === 'count' ? 1 : undefined;
  }
  if (target instanceof PsDate) return dateProp(target, lower);
  if (target instanceof PsTimeSpan) return timeSpanProp(target, lower);
  if (target instanceof PsType) {
    if (lower === 'fullname') return target.fullName;
    if (lower === 'name') return target.fullName.slice(target.fullName.lastIndexOf('.') + 1);
    return undefined;
  }
  if (target instanceof PsEncoding) {
    if (lower === 'codepage') return target.codePage;
    if (lower === 'webname' || lower === 'bodyname' || lower === 'headername') return target.webName;
    if (lower === 'encodingname') return target.encodingName;
    return undefined;
  }
  const com = comDispatch(target);
  if (com) return com.get(name);
  if (isObject(target)) {
    const key = Object.keys(target).find((k) => !k.startsWith('__') && k.toLowerCase() === lower);
    if (key !== undefined) return target[key];
    if (isDictionary(target)) {
      if (lower === 'count') return keysOf(target).length;
      if (lower === 'keys') return keysOf(target);
      if (lower === 'values') return keysOf(target).map((k) => target[k]);
      return undefined;
    }
    if (lower === 'psobject') return psObjectOf(target);
    return lower === 'count' ? 1 : undefined;
  }
  return lower === 'count' ? 1 : undefined;
}

/** `$x.Name = value` on a hashtable or object. */
export function setMember(target: unknown, name: string, value: unknown): boolean {
  const com = comDispatch(target);
  if (com) return com.set(name, value);
  if (!isObject(target)) return false;
  const key = Object.keys(target).find((k) => !k.startsWith('__') && k.toLowerCase() === name.toLowerCase());
  if (key === undefined && isCustomObject(target)) return false;
  target[key ?? name] = value;
  return true;
}

function splitChars(s: string, seps: string): string[] {
  if (!seps) return s.split(/\s/);
  const out: string[] = [];
  let cur = '';
  for (const c of s) {
    if (seps.includes(c)) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function trimChars(s: string, chars: string | undefined, start: boolean, end: boolean): string {
  const set = chars ?? ' \t\r\n\v\f\u00a0';
  let a = 0;
  let b = s.length;
  if (start) while (a < b && set.includes(s[a]!)) a++;
  if (end) while (b > a && set.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function stringMethod(s: string, name: string, args: unknown[]): unknown {
  const a = args.map((x) => (x instanceof PsChar ? x.toString() : x));
  const str = (i: number): string => toStr(a[i]);
  const int = (i: number): number => Math.trunc(toNumber(a[i]));
  switch (name) {
    case 'toupper':
    case 'toupperinvariant':
      return s.toUpperCase();
    case 'tolower':
    case 'tolowerinvariant':
      return s.toLowerCase();
    case 'trim':
      return trimChars(s, a.length ? a.map(toStr).join('') : undefined, true, true);
    case 'trimstart':
      return trimChars(s, a.length ? a.map(toStr).join('') : undefined, true, false);
    case 'trimend':
      return trimChars(s, a.length ? a.map(toStr).join('') : undefined, false, true);
    case 'substring': {
      const start = int(0);
      if (start > s.length)
        throw methodException(
          'Substring',
          a.length,
          'startIndex cannot be larger than length of string.\r\nParameter name: startIndex',
        );
      if (a.length > 1 && start + int(1) > s.length)
        throw methodException(
          'Substring',
          a.length,
          'Index and length must refer to a location within the string.\r\nParameter name: length',
        );
      return a.length > 1 ? s.substr(start, int(1)) : s.slice(start);
    }
    case 'indexof':
      return s.indexOf(str(0), a.length > 1 ? int(1) : 0);
    case 'lastindexof':
      return s.lastIndexOf(str(0));
    case 'contains':
      return s.includes(str(0));
    case 'startswith':
      return a[1] !== undefined && /ignorecase/i.test(str(1))
        ? s.toLowerCase().startsWith(str(0).toLowerCase())
        : s.startsWith(str(0));
    case 'endswith':
      return a[1] !== undefined && /ignorecase/i.test(str(1))
        ? s.toLowerCase().endsWith(str(0).toLowerCase())
        : s.endsWith(str(0));
    case 'replace':
      return str(0) === '' ? s : s.split(str(0)).join(str(1));
    case 'split':
      return splitChars(s, a.length ? a.flatMap((x) => (Array.isArray(x) ? x.map(toStr) : [toStr(x)])).join('') : '');
    case 'padleft':
      return s.padStart(int(0), a.length > 1 ? str(1) : ' ');
    case 'padright':
      return s.padEnd(int(0), a.length > 1 ? str(1) : ' ');
    case 'insert':
      return s.slice(0, int(0)) + str(1) + s.slice(int(0));
    case 'remove':
      return a.length > 1 ? s.slice(0, int(0)) + s.slice(int(0) + int(1)) : s.slice(0, int(0));
    case 'tochararray':
      return [...s].map((c) => new PsChar(c.charCodeAt(0)));
    case 'equals':
      return s === str(0);
    case 'compareto':
      return s === str(0) ? 0 : s < str(0) ? -1 : 1;
    case 'tostring':
      return s;
    case 'normalize':
      return s.normalize();
    default:
      return undefined;
  }
}

function dateMethod(d: PsDate, name: string, args: unknown[]): unknown {
  const n = toNumber(args[0]);
  const x = d.date;
  const plus = (ms: number): PsDate => new PsDate(d.ms + ms);
  switch (name) {
    case 'adddays':
      return plus(n * 86_400_000);
    case 'addhours':
      return plus(n * 3_600_000);
    case 'addminutes':
      return plus(n * 60_000);
    case 'addseconds':
      return plus(n * 1000);
    case 'addmilliseconds':
      return plus(n);
    case 'addmonths':
    case 'addyears': {
      const months = name === 'addmonths' ? n : n * 12;
      const y = x.getUTCFullYear() + Math.floor((x.getUTCMonth() + months) / 12);
      const mo = (((x.getUTCMonth() + months) % 12) + 12) % 12;
      const last = new Date(Date.UTC(y, mo + 1, 0)).getUTCDate();
      return new PsDate(
        Date.UTC(y, mo, Math.min(x.getUTCDate(), last), x.getUTCHours(), x.getUTCMinutes(), x.getUTCSeconds()),
      );
    }
    case 'tostring':
      return formatDate(d, args.length ? toStr(args[0]) : 'G');
    case 'toshortdatestring':
      return formatDate(d, 'd');
    case 'tolongdatestring':
      return formatDate(d, 'D');
    case 'toshorttimestring':
      return formatDate(d, 't');
    case 'tolongtimestring':
      return formatDate(d, 'T');
    case 'touniversaltime':
    case 'tolocaltime':
      return d;
    case 'subtract':
      return args[0] instanceof PsDate ? new PsTimeSpan(d.ms - args[0].ms) : undefined;
    default:
      return undefined;
  }
}

function dictionaryMethod(h: PsObject, name: string, args: unknown[]): unknown {
  const key = (k: unknown): string | undefined => keysOf(h).find((x) => x.toLowerCase() === toStr(k).toLowerCase());
  switch (name) {
    case 'add': {
      const existing = key(args[0]);
      if (existing !== undefined)
        throw methodException(
          'Add',
          2,
          `Item has already been added. Key in dictionary: '${existing}'  Key being added: '${toStr(args[0])}'`,
          'ArgumentException',
        );
      h[toStr(args[0])] = args[1];
      return null;
    }
    case 'remove': {
      const k = key(args[0]);
      if (k !== undefined) delete h[k];
      return null;
    }
    case 'containskey':
    case 'contains':
      return key(args[0]) !== undefined;
    case 'containsvalue':
      return keysOf(h).some((k) => toStr(h[k]) === toStr(args[0]));
    case 'clear':
      for (const k of keysOf(h)) delete h[k];
      return null;
    case 'clone':
      return { ...h };
    default:
      return undefined;
  }
}

async function arrayMethod(arr: unknown[], name: string, args: unknown[], host: MemberHost): Promise<unknown> {
  switch (name) {
    case 'where': {
      const out: unknown[] = [];
      for (const item of arr)
        if (args[0] instanceof ScriptBlock && truthy(unwrapOne(await host.invoke(args[0], item)))) out.push(item);
      return out;
    }
    case 'foreach': {
      const out: unknown[] = [];
      for (const item of arr) {
        if (args[0] instanceof ScriptBlock) out.push(...(await host.invoke(args[0], item)));
        else out.push(getMember(item, toStr(args[0])));
      }
      return out;
    }
    case 'contains':
      return arr.some((x) => toStr(x) === toStr(args[0]));
    case 'indexof':
      return arr.findIndex((x) => toStr(x) === toStr(args[0]));
    case 'clone':
      return [...arr];
    default:
      return undefined;
  }
}

function unwrapOne(v: unknown[]): unknown {
  return v.length === 1 ? v[0] : v;
}

/** `$x.Name(args)`. */
export async function callMethod(target: unknown, name: string, args: unknown[], host: MemberHost): Promise<unknown> {
  const lower = name.toLowerCase();
  if (target === null || target === undefined)
    throw new DotNetError(
      'You cannot call a method on a null-valued expression.',
      'System.Management.Automation.RuntimeException',
      'InvokeMethodOnNull',
    );
  if (lower === 'gettype') return new PsType(typeName(target));
  let result: unknown;
  if (typeof target === 'string') result = stringMethod(target, lower, args);
  else if (typeof target === 'number') {
    if (lower === 'tostring') result = args.length ? formatWith(target, toStr(args[0]), 'ToString') : toStr(target);
    else if (lower === 'equals') result = target === toNumber(args[0]);
    else if (lower === 'compareto') result = Math.sign(target - toNumber(args[0]));
  } else if (target instanceof PsDate) result = dateMethod(target, lower, args);
  else if (target instanceof PsEncoding) {
    if (lower === 'getbytes') result = [...target.encode(toStr(args[0]))];
    else if (lower === 'getstring') {
      const bytes = bytesOf(args[0]);
      const from = args.length > 1 ? toNumber(args[1]) : 0;
      const count = args.length > 2 ? toNumber(args[2]) : bytes.length - from;
      result = target.decode(Uint8Array.from(bytes.slice(from, from + count)));
    } else if (lower === 'getpreamble') result = [...target.preamble()];
    else if (lower === 'getbytecount') result = target.encode(toStr(args[0])).length;
  } else if (Array.isArray(target)) result = await arrayMethod(target, lower, args, host);
  else if (isDictionary(target)) result = dictionaryMethod(target, lower, args);
  else if (comDispatch(target)) result = await comDispatch(target)!.call(name, args, { user: host.io.user });
  if (result !== undefined) return result;
  if (lower === 'tostring') return toStr(target);
  if (lower === 'equals') return toStr(target) === toStr(args[0]);
  throw methodNotFound(typeName(target), name);
}

function formatWith(v: unknown, format: string, method: string): string {
  try {
    return formatValue(v, format);
  } catch (err) {
    if (err instanceof FormatError) throw methodException(method, 1, err.message, 'FormatException');
    throw err;
  }
}

function osVersion(): PsObject {
  const version: PsObject = {
    __type: 'System.Version',
    Major: 10,
    Minor: 0,
    Build: 20348,
    Revision: 0,
    __string: '10.0.20348.0',
  };
  return {
    __type: 'System.OperatingSystem',
    Platform: 'Win32NT',
    ServicePack: '',
    Version: version,
    VersionString: 'Microsoft Windows NT 10.0.20348.0',
    __string: 'Microsoft Windows NT 10.0.20348.0',
  };
}

const INT_TYPES: Record<string, [number, number]> = {
  'System.Int32': [-2147483648, 2147483647],
  'System.Int64': [-(2 ** 63), 2 ** 63 - 1],
  'System.Byte': [0, 255],
  'System.UInt32': [0, 4294967295],
};

/** `[Type]::Name`: a static property, $null when there is none. */
export function getStatic(type: PsType, name: string, host: MemberHost): unknown {
  const lower = name.toLowerCase();
  const m = host.m;
  switch (type.fullName) {
    case 'System.Console':
      if (lower === 'outputencoding' || lower === 'inputencoding') return new PsEncoding('cp437', false);
      if (lower === 'in') return { __type: 'System.IO.TextReader', __stdin: true };
      return undefined;
    case 'System.Environment':
      switch (lower) {
        case 'machinename':
        case 'userdomainname':
          return m.state.computerName;
        case 'username':
          return host.io.user;
        case 'newline':
          return '\r\n';
        case 'osversion':
          return osVersion();
        case 'is64bitoperatingsystem':
        case 'is64bitprocess':
          return true;
        case 'processorcount':
          return 2;
        case 'systemdirectory':
          return 'C:\\Windows\\system32';
        case 'currentdirectory':
          return host.io.vars.USERPROFILE ?? 'C:\\Windows\\system32';
        default:
          return undefined;
      }
    case 'System.Math':
      if (lower === 'pi') return Math.PI;
      if (lower === 'e') return Math.E;
      return undefined;
    case 'System.Text.Encoding':
      switch (lower) {
        case 'utf8':
          return new PsEncoding('utf8');
        case 'unicode':
          return new PsEncoding('utf16le');
        case 'bigendianunicode':
          return new PsEncoding('utf16be');
        case 'ascii':
          return new PsEncoding('ascii');
        case 'default':
          return new PsEncoding('cp1252');
        default:
          return undefined;
      }
    case 'System.String':
      return lower === 'empty' ? '' : undefined;
    case 'System.DateTime':
      if (lower === 'now' || lower === 'utcnow') return new PsDate(Date.now());
      if (lower === 'today') {
        const d = new Date();
        return new PsDate(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
      }
      return undefined;
    case 'System.IO.Path':
      if (lower === 'directoryseparatorchar') return new PsChar(0x5c);
      return undefined;
    default: {
      const range = INT_TYPES[type.fullName];
      if (range && lower === 'maxvalue') return range[1];
      if (range && lower === 'minvalue') return range[0];
      if (type.fullName === 'System.Double' && lower === 'maxvalue') return Number.MAX_VALUE;
      return undefined;
    }
  }
}

function encodingByName(v: unknown): PsEncoding | undefined {
  const s = toStr(v).toLowerCase();
  if (s === '65001' || s === 'utf-8' || s === 'utf8') return new PsEncoding('utf8');
  if (s === '1200' || s === 'utf-16' || s === 'unicode') return new PsEncoding('utf16le');
  if (s === '1201' || s === 'utf-16be') return new PsEncoding('utf16be');
  if (s === '20127' || s === 'us-ascii' || s === 'ascii') return new PsEncoding('ascii');
  if (s === '1252' || s === 'windows-1252') return new PsEncoding('cp1252');
  if (s === '437' || s === 'ibm437') return new PsEncoding('cp437');
  return undefined;
}

function readHostFile(host: MemberHost, method: string, argc: number, p: string): Buffer {
  const data = host.m.readFile(p);
  if (!data) {
    const full = WindowsMachine.normalize(p);
    throw methodException(method, argc, `Could not find file '${full}'.`, 'FileNotFoundException');
  }
  return data;
}

function writeHostFile(host: MemberHost, method: string, argc: number, p: string, data: Buffer, append = false): null {
  if (!host.m.writeFile(p, data, append)) {
    const dir = nodePath.win32.dirname(WindowsMachine.normalize(p));
    throw methodException(method, argc, `Could not find a part of the path '${dir}'.`, 'DirectoryNotFoundException');
  }
  void host.m.env.persist().catch(() => undefined);
  return null;
}

/** `[Type]::Name(args)`. */
export function callStatic(type: PsType, name: string, args: unknown[], host: MemberHost): unknown {
  const lower = name.toLowerCase();
  const argc = args.length;
  const s = (i: number): string => toStr(args[i]);
  const n = (i: number): number => toNumber(args[i]);
  const result = ((): unknown => {
    switch (type.fullName) {
      case 'System.Console':
        if (lower === 'writeline' || lower === 'write') {
          host.io.out(args.map(toStr).join('') + (lower === 'writeline' ? '\r\n' : ''));
          return null;
        }
        return undefined;
      case 'System.Environment':
        switch (lower) {
          case 'getenvironmentvariable':
            return host.io.vars[s(0).toUpperCase()] ?? null;
          case 'setenvironmentvariable':
            if (args[1] === null || s(1) === '') delete host.io.vars[s(0).toUpperCase()];
            else host.io.vars[s(0).toUpperCase()] = s(1);
            return null;
          case 'expandenvironmentvariables':
            return s(0).replace(/%([^%]+)%/g, (all, v: string) => host.io.vars[v.toUpperCase()] ?? all);
          case 'getenvironmentvariables': {
            const o: PsObject = { __type: HASHTABLE };
            for (const [k, v] of Object.entries(host.io.vars)) o[k] = v;
            return o;
          }
          default:
            return undefined;
        }
      case 'System.Math':
        switch (lower) {
          case 'round': {
            const digits = argc > 1 ? n(1) : 0;
            const f = 10 ** digits;
            return bankersRound(Number((n(0) * f).toPrecision(15))) / f;
          }
          case 'floor':
            return Math.floor(n(0));
          case 'ceiling':
            return Math.ceil(n(0));
          case 'truncate':
            return Math.trunc(n(0));
          case 'abs':
            return Math.abs(n(0));
          case 'max':
            return Math.max(n(0), n(1));
          case 'min':
            return Math.min(n(0), n(1));
          case 'pow':
            return n(0) ** n(1);
          case 'sqrt':
            return Math.sqrt(n(0));
          case 'sign':
            return Math.sign(n(0));
          default:
            return undefined;
        }
      case 'System.Text.Encoding':
        if (lower === 'getencoding') {
          const e = encodingByName(args[0]);
          if (!e)
            throw methodException(
              'GetEncoding',
              argc,
              `'${s(0)}' is not a supported encoding name. For information on defining a custom encoding, see the documentation for the Encoding.RegisterProvider method.\r\nParameter name: name`,
              'ArgumentException',
            );
          return e;
        }
        return undefined;
      case 'System.Convert':
        switch (lower) {
          case 'tobase64string':
            return Buffer.from(bytesOf(args[0])).toString('base64');
          case 'frombase64string': {
            const t = s(0).replace(/\s/g, '');
            if (t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t))
              throw methodException(
                'FromBase64String',
                argc,
                'The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. ',
                'FormatException',
              );
            return [...Buffer.from(t, 'base64')];
          }
          case 'toint32':
          case 'toint64': {
            if (argc > 1) {
              const v = Number.parseInt(s(0), n(1));
              if (Number.isNaN(v))
                throw methodException(
                  lower === 'toint32' ? 'ToInt32' : 'ToInt64',
                  argc,
                  'Could not find any recognizable digits.',
                  'FormatException',
                );
              return v;
            }
            return cast(new PsType(lower === 'toint32' ? 'System.Int32' : 'System.Int64'), 'int', args[0]);
          }
          case 'tostring':
            return argc > 1 ? Math.trunc(n(0)).toString(n(1)) : toStr(args[0]);
          default:
            return undefined;
        }
      case 'System.IO.Path': {
        const w = nodePath.win32;
        switch (lower) {
          case 'combine':
            return args.map(toStr).reduce((a, b) => (b === '' ? a : a === '' || w.isAbsolute(b) ? b : w.join(a, b)));
          case 'getfilename':
            return w.basename(s(0));
          case 'getextension':
            return w.extname(s(0));
          case 'getfilenamewithoutextension':
            return w.basename(s(0), w.extname(s(0)));
          case 'getdirectoryname':
            return w.dirname(s(0));
          case 'gettemppath':
            return `${host.io.vars.TEMP ?? 'C:\\Windows\\Temp'}\\`;
          case 'isrooted':
            return w.isAbsolute(s(0));
          default:
            return undefined;
        }
      }
      case 'System.IO.File':
        switch (lower) {
          case 'exists':
            return host.m.isFile(s(0));
          case 'readalltext':
            return readHostFile(host, 'ReadAllText', argc, s(0))
              .toString('utf8')
              .replace(/^\uFEFF/, '');
          case 'readalllines':
            return readHostFile(host, 'ReadAllLines', argc, s(0))
              .toString('utf8')
              .replace(/^\uFEFF/, '')
              .replace(/\r?\n$/, '')
              .split(/\r?\n/);
          case 'readallbytes':
            return [...readHostFile(host, 'ReadAllBytes', argc, s(0))];
          case 'writealltext':
            return writeHostFile(host, 'WriteAllText', argc, s(0), encodingFor(args[2]).encodeWithBom(s(1)));
          case 'appendalltext':
            return writeHostFile(host, 'AppendAllText', argc, s(0), Buffer.from(s(1), 'utf8'), true);
          case 'writeallbytes':
            return writeHostFile(host, 'WriteAllBytes', argc, s(0), Buffer.from(bytesOf(args[1])));
          case 'writealllines':
            return writeHostFile(
              host,
              'WriteAllLines',
              argc,
              s(0),
              Buffer.from(
                (Array.isArray(args[1]) ? args[1] : [args[1]]).map((x) => toStr(x) + '\r\n').join(''),
                'utf8',
              ),
            );
          default:
            return undefined;
        }
      case 'System.String':
        switch (lower) {
          case 'isnullorempty':
            return args[0] === null || args[0] === undefined || s(0) === '';
          case 'isnullorwhitespace':
            return s(0).trim() === '';
          case 'join':
            return (Array.isArray(args[1]) ? args[1] : args.slice(1)).map(toStr).join(s(0));
          case 'concat':
            return args.map(toStr).join('');
          case 'format':
            return compositeFormat(s(0), Array.isArray(args[1]) && argc === 2 ? args[1] : args.slice(1));
          case 'equals':
            return s(0) === s(1);
          default:
            return undefined;
        }
      case 'System.DateTime':
        if (lower === 'parse') {
          const d = parseDate(s(0));
          if (!d)
            throw methodException('Parse', argc, 'String was not recognized as a valid DateTime.', 'FormatException');
          return d;
        }
        if (lower === 'daysinmonth') return new Date(Date.UTC(n(0), n(1), 0)).getUTCDate();
        if (lower === 'isleapyear') return new Date(Date.UTC(n(0), 1, 29)).getUTCMonth() === 1;
        return undefined;
      case 'System.Text.RegularExpressions.Regex':
        if (lower === 'escape') return s(0).replace(/[\\*+?|{[()^$.#\s]/g, (c) => (c === ' ' ? '\\ ' : `\\${c}`));
        if (lower === 'ismatch') return new RegExp(s(1)).test(s(0));
        if (lower === 'replace') return s(0).replace(new RegExp(s(1), 'g'), s(2).replace(/\$(\d)/g, '$$$1'));
        return undefined;
      default:
        if (INT_TYPES[type.fullName] && lower === 'parse') {
          const v = toNumber(args[0]);
          if (typeof args[0] !== 'number' && !/^\s*[+-]?\d+\s*$/.test(s(0)))
            throw methodException('Parse', argc, 'Input string was not in a correct format.', 'FormatException');
          const [lo, hi] = INT_TYPES[type.fullName]!;
          if (v < lo || v > hi)
            throw methodException(
              'Parse',
              argc,
              `Value was either too large or too small for ${type.fullName === 'System.Int32' ? 'an Int32' : 'a ' + type.fullName.slice(7)}.`,
              'OverflowException',
            );
          return v;
        }
        if (type.fullName === 'System.Double' && lower === 'parse') {
          const v = toNumber(s(0));
          if (Number.isNaN(v))
            throw methodException('Parse', argc, 'Input string was not in a correct format.', 'FormatException');
          return v;
        }
        return undefined;
    }
  })();
  if (result !== undefined) return result;
  throw methodNotFound(type.fullName, name);
}

/** The encoding argument of File.WriteAllText: UTF-8 without a BOM unless one is given. */
function encodingFor(v: unknown): { encodeWithBom(text: string): Buffer } {
  if (v instanceof PsEncoding) return { encodeWithBom: (t) => Buffer.concat([v.preamble(), v.encode(t)]) };
  return { encodeWithBom: (t) => Buffer.from(t, 'utf8') };
}
