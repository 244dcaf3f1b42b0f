// How output looks when it reaches the host (Out-Default) or Out-String: scalars one per line; hashtables as
// the Name/Value table; [pscustomobject] as a table (up to four properties) or a list (five or more), with
// consecutive objects sharing one table; Format-Table and Format-List text. Objects of the simulated system's
// own cmdlets keep the simple "Name : Value" block the product's scripts were written against.
import { formatDate } from './dotnetFormat.js';
import {
  FormatText,
  PsChar,
  PsDate,
  SecureString,
  isCustomObject,
  isDictionary,
  isObject,
  keysOf,
  toStr,
  type PsObject,
} from './values.js';

const CRLF = '\r\n';
/** The width of the Name column of the hashtable view (DotNetTypes.format.ps1xml). */
const DICTIONARY_NAME_WIDTH = 30;

function cell(v: unknown): string {
  if (Array.isArray(v)) return `{${v.map(toStr).join(', ')}}`;
  if (isCustomObject(v)) return toStr(v);
  if (isObject(v)) return toStr(v);
  return toStr(v);
}

function rightAligned(v: unknown): boolean {
  return typeof v === 'number';
}

function value(o: PsObject, name: string): unknown {
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : o[key];
}

/** A table: header, dashes, rows; columns as wide as their widest cell, numbers right-aligned. */
export function formatTable(objects: PsObject[], properties?: string[]): string {
  const names = properties ?? keysOf(objects[0] ?? {});
  if (names.length === 0) return '';
  const rows = objects.map((o) => names.map((n) => value(o, n)));
  const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => cell(r[i]).length)));
  const right = names.map((_, i) => rows.length > 0 && rightAligned(rows[0]![i]));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => {
        const last = i === cells.length - 1;
        if (right[i]) return c.padStart(widths[i]!);
        return last ? c : c.padEnd(widths[i]!);
      })
      .join(' ');
  const out = [line(names), line(names.map((n) => '-'.repeat(n.length))), ...rows.map((r) => line(r.map(cell)))];
  return CRLF + out.map((l) => l + CRLF).join('') + CRLF + CRLF;
}

/** A list: one "Name : Value" line per property, a blank line between objects. */
export function formatList(objects: PsObject[], properties?: string[]): string {
  let out = CRLF;
  for (const o of objects) {
    const names = properties ?? keysOf(o);
    const width = Math.max(0, ...names.map((n) => n.length));
    out += CRLF + names.map((n) => `${n.padEnd(width)} : ${cell(value(o, n))}${CRLF}`).join('');
  }
  return out + CRLF + CRLF + CRLF;
}

function dictionaryTable(dicts: PsObject[]): string {
  const name = (k: string): string =>
    k.length > DICTIONARY_NAME_WIDTH ? k.slice(0, DICTIONARY_NAME_WIDTH - 3) + '...' : k;
  const rows = dicts.flatMap((d) => keysOf(d).map((k) => `${name(k).padEnd(DICTIONARY_NAME_WIDTH)} ${cell(d[k])}`));
  const header = `${'Name'.padEnd(DICTIONARY_NAME_WIDTH)} Value`;
  const dashes = `${'----'.padEnd(DICTIONARY_NAME_WIDTH)} -----`;
  return CRLF + [header, dashes, ...rows].map((l) => l + CRLF).join('') + CRLF + CRLF;
}

/** Objects the product's cmdlets return (services, users, …): the block the product's scripts parse. */
function legacyBlock(o: PsObject): string {
  const keys = keysOf(o);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return CRLF + keys.map((k) => `${k.padEnd(width)} : ${toStr(o[k])}${CRLF}`).join('') + CRLF;
}

const sameShape = (a: PsObject, b: PsObject): boolean => keysOf(a).join('\0') === keysOf(b).join('\0');

/** The text of a sequence of output values, as the console host writes it. */
export function outDefault(values: unknown[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (v instanceof FormatText) out += v.text;
    else if (v instanceof PsDate) out += formatDate(v, 'F') + CRLF;
    else if (v instanceof PsChar || v instanceof SecureString) out += toStr(v) + CRLF;
    else if (isDictionary(v)) {
      const group = [v];
      while (i + 1 < values.length && isDictionary(values[i + 1])) group.push(values[++i] as PsObject);
      out += dictionaryTable(group);
    } else if (isCustomObject(v)) {
      const group = [v];
      while (i + 1 < values.length && isCustomObject(values[i + 1]) && sameShape(v, values[i + 1] as PsObject))
        group.push(values[++i] as PsObject);
      out += keysOf(v).length <= 4 ? formatTable(group) : formatList(group);
    } else if (isObject(v)) out += legacyBlock(v);
    else out += toStr(v) + CRLF;
  }
  return out;
}
