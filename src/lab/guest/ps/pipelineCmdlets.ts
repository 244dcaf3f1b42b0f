// The cmdlets that shape pipeline data: Where-Object, ForEach-Object, Sort-Object, Select-Object,
// Measure-Object, Add-Member, and the output cmdlets Format-Table, Format-List, Out-String and Out-File.
import { PsEncoding, fileEncoding } from './encodings.js';
import { formatList, formatTable, outDefault } from './format.js';
import { callMethod, getMember } from './members.js';
import { binary, equals } from './operators.js';
import { BoundArgs, PsError, commandClass, type CmdletContext, type CmdletDef } from './run.js';
import { toNumber } from './types.js';
import {
  CUSTOM_OBJECT,
  FormatText,
  ScriptBlock,
  isDictionary,
  isObject,
  keysOf,
  toStr,
  truthy,
  type PsObject,
} from './values.js';

const CRLF = '\r\n';

function input(a: BoundArgs, c: CmdletContext): unknown[] {
  if (a.has('InputObject')) {
    const v = a.get('InputObject');
    return v === null || v === undefined ? [] : [v];
  }
  return c.input ?? [];
}

function list(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

const WHERE_OPERATORS = [
  'EQ',
  'NE',
  'GT',
  'GE',
  'LT',
  'LE',
  'Like',
  'NotLike',
  'Match',
  'NotMatch',
  'Contains',
  'NotContains',
  'In',
  'NotIn',
  'CEQ',
  'CNE',
  'CLike',
  'CMatch',
];

/** The value of `property` (a name or a script block) for one object. */
async function valueOf(item: unknown, property: unknown, c: CmdletContext): Promise<unknown> {
  if (property instanceof ScriptBlock) {
    const out = await c.rt.invoke(property, item);
    return out.length === 1 ? out[0] : out;
  }
  if (isObject(property)) {
    const expr = getMember(property, 'Expression') ?? getMember(property, 'E');
    return valueOf(item, expr, c);
  }
  return getMember(item, toStr(property)) ?? null;
}

function sortKey(a: unknown, b: unknown, caseSensitive: boolean): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1;
  if (b === null || b === undefined) return 1;
  const x = caseSensitive ? toStr(a) : toStr(a).toLowerCase();
  const y = caseSensitive ? toStr(b) : toStr(b).toLowerCase();
  return x === y ? 0 : x.localeCompare(y, 'en-US') || (x < y ? -1 : 1);
}

function measureText(items: unknown[], a: BoundArgs): PsObject {
  const texts = items.map(toStr);
  const out: PsObject = { __type: 'Microsoft.PowerShell.Commands.TextMeasureInfo' };
  if (a.flag('Line')) out.Lines = texts.reduce((n, t) => n + t.split(/\r?\n/).filter((l) => l !== '').length, 0);
  if (a.flag('Word')) out.Words = texts.reduce((n, t) => n + t.split(/\s+/).filter((w) => w !== '').length, 0);
  if (a.flag('Character'))
    out.Characters = texts.reduce(
      (n, t) => n + (a.flag('IgnoreWhiteSpace') ? t.replace(/\s/g, '') : t.replace(/\r?\n/g, '')).length,
      0,
    );
  out.Property = a.str('Property') ?? null;
  return out;
}

/** The objects a Format-* cmdlet formats as rows or entries. */
function formattable(items: unknown[]): PsObject[] {
  return items.map((v) => (isObject(v) ? v : { __type: 'System.String', Value: v }));
}

export const PIPELINE_CMDLETS: Record<string, CmdletDef> = {
  'where-object': {
    params: ['FilterScript', 'Property', 'Value', 'InputObject', ...WHERE_OPERATORS],
    positional: ['FilterScript', 'Value'],
    run: async (a, c) => {
      const filter = a.get('FilterScript') ?? a.get('Property');
      const op = WHERE_OPERATORS.find((o) => a.has(o));
      const out: unknown[] = [];
      for (const item of input(a, c)) {
        let keep: boolean;
        if (filter instanceof ScriptBlock) {
          const r = await c.rt.invoke(filter, item);
          keep = truthy(r.length === 1 ? r[0] : r);
        } else {
          const v = getMember(item, toStr(filter)) ?? null;
          keep = op ? truthy(binary(op.toLowerCase(), v, a.get(op), c.rt)) : truthy(v);
        }
        if (keep) out.push(item);
      }
      return out;
    },
  },
  'foreach-object': {
    params: ['Process', 'Begin', 'End', 'MemberName', 'ArgumentList', 'InputObject'],
    positional: ['Process', 'ArgumentList'],
    run: async (a, c) => {
      const out: unknown[] = [];
      const begin = a.get('Begin');
      if (begin instanceof ScriptBlock) out.push(...(await c.rt.invoke(begin, null)));
      const process = a.get('Process') ?? a.get('MemberName');
      const args = list(a.get('ArgumentList'));
      for (const item of input(a, c)) {
        const blocks = list(process);
        if (blocks.length && blocks.every((b) => b instanceof ScriptBlock)) {
          for (const b of blocks) out.push(...(await c.rt.invoke(b as ScriptBlock, item)));
        } else if (process !== undefined) {
          const name = toStr(process);
          const v = args.length ? undefined : getMember(item, name);
          out.push(v !== undefined ? v : await callMethod(item, name, args, c.rt));
        }
      }
      const end = a.get('End');
      if (end instanceof ScriptBlock) out.push(...(await c.rt.invoke(end, null)));
      return out.flatMap((v) => (Array.isArray(v) ? v : [v]));
    },
  },
  'sort-object': {
    params: ['Property', 'InputObject'],
    positional: ['Property'],
    switches: ['Descending', 'Unique', 'CaseSensitive'],
    run: async (a, c) => {
      const props = list(a.get('Property'));
      const cs = a.flag('CaseSensitive');
      const keyed: Array<{ item: unknown; keys: unknown[] }> = [];
      for (const item of input(a, c)) {
        const keys: unknown[] = [];
        for (const p of props) keys.push(await valueOf(item, p, c));
        keyed.push({ item, keys: props.length ? keys : [item] });
      }
      const dir = a.flag('Descending') ? -1 : 1;
      keyed.sort((x, y) => {
        for (let i = 0; i < x.keys.length; i++) {
          const d = sortKey(x.keys[i], y.keys[i], cs);
          if (d !== 0) return d * dir;
        }
        return 0;
      });
      let out = keyed.map((k) => k.item);
      if (a.flag('Unique'))
        out = out.filter((v, i) => i === 0 || sortKey(keyed[i - 1]!.keys[0], keyed[i]!.keys[0], cs) !== 0);
      return out;
    },
  },
  'select-object': {
    params: ['Property', 'ExpandProperty', 'First', 'Last', 'Skip', 'Index', 'ExcludeProperty', 'InputObject'],
    positional: ['Property'],
    switches: ['Unique'],
    run: async (a, c) => {
      let items = input(a, c);
      if (a.has('Index')) {
        const idx = list(a.get('Index')).map(toNumber);
        items = items.filter((_, i) => idx.includes(i));
      }
      if (a.has('Skip')) items = items.slice(toNumber(a.get('Skip')));
      if (a.has('First') || a.has('Last')) {
        const first = a.has('First') ? items.slice(0, toNumber(a.get('First'))) : [];
        const last = a.has('Last') ? items.slice(Math.max(0, items.length - toNumber(a.get('Last')))) : [];
        items = [...first, ...last];
      }
      if (a.flag('Unique')) items = items.filter((v, i) => items.findIndex((x) => equals(x, v, true)) === i);
      if (a.has('Property')) {
        const props = list(a.get('Property'));
        const shaped: unknown[] = [];
        for (const item of items) {
          const o: PsObject = { __type: CUSTOM_OBJECT };
          for (const p of props) {
            if (toStr(p) === '*' && isObject(item)) {
              for (const k of keysOf(item)) o[k] = item[k];
              continue;
            }
            const name = isObject(p)
              ? toStr(getMember(p, 'Name') ?? getMember(p, 'N') ?? getMember(p, 'Label'))
              : toStr(p);
            o[name] = await valueOf(item, p, c);
          }
          shaped.push(o);
        }
        items = shaped;
      }
      if (a.has('ExpandProperty')) {
        const name = a.str('ExpandProperty')!;
        const out: unknown[] = [];
        for (const item of items) {
          const v = getMember(item, name);
          if (v === undefined)
            throw new PsError(`Property "${name}" cannot be found.`, {
              category: 'InvalidArgument',
              reason: 'PSArgumentException',
              fqid: `ExpandPropertyNotFound,${commandClass('select-object')}`,
              target: toStr(item),
            });
          out.push(...list(v));
        }
        return out;
      }
      return items;
    },
  },
  'measure-object': {
    params: ['Property', 'InputObject'],
    positional: ['Property'],
    switches: ['Sum', 'Average', 'Maximum', 'Minimum', 'Line', 'Word', 'Character', 'IgnoreWhiteSpace'],
    run: (a, c) => {
      const items = input(a, c);
      if (a.flag('Line') || a.flag('Word') || a.flag('Character')) return [measureText(items, a)];
      const prop = a.str('Property');
      const values = prop ? items.map((i) => getMember(i, prop)).filter((v) => v !== undefined && v !== null) : items;
      const nums = values.map(toNumber);
      const sum = nums.reduce((x, y) => x + y, 0);
      return [
        {
          __type: 'Microsoft.PowerShell.Commands.GenericMeasureInfo',
          Count: values.length,
          Average: a.flag('Average') ? (values.length ? sum / values.length : null) : null,
          Sum: a.flag('Sum') ? sum : null,
          Maximum: a.flag('Maximum') && nums.length ? Math.max(...nums) : null,
          Minimum: a.flag('Minimum') && nums.length ? Math.min(...nums) : null,
          Property: prop ?? null,
        },
      ];
    },
  },
  'add-member': {
    params: ['InputObject', 'NotePropertyName', 'NotePropertyValue', 'MemberType', 'Name', 'Value'],
    positional: ['MemberType', 'Name', 'Value'],
    switches: ['PassThru', 'Force'],
    run: (a, c) => {
      const name = a.str('NotePropertyName') ?? a.str('Name') ?? '';
      const value = a.has('NotePropertyValue') ? a.get('NotePropertyValue') : (a.get('Value') ?? null);
      const targets = input(a, c);
      for (const t of targets) {
        if (!isObject(t)) continue;
        if (keysOf(t).some((k) => k.toLowerCase() === name.toLowerCase()) && !a.flag('Force'))
          throw new PsError(
            `Cannot add a member with the name "${name}" because a member with that name already exists. To overwrite the member anyway, add the Force parameter to your command.`,
            {
              category: 'InvalidOperation',
              reason: 'InvalidOperationException',
              fqid: `MemberAlreadyExists,${commandClass('add-member')}`,
              target: toStr(t),
            },
          );
        t[name] = value;
      }
      return a.flag('PassThru') ? targets : [];
    },
  },
  'format-table': {
    params: ['Property', 'InputObject'],
    positional: ['Property'],
    switches: ['AutoSize', 'Wrap', 'HideTableHeaders'],
    run: (a, c) => {
      const items = input(a, c);
      if (items.length && items.every(isDictionary)) return [new FormatText(outDefault(items))];
      const props = a.has('Property') ? list(a.get('Property')).map(toStr) : undefined;
      return items.length ? [new FormatText(formatTable(formattable(items), props))] : [];
    },
  },
  'format-list': {
    params: ['Property', 'InputObject'],
    positional: ['Property'],
    run: (a, c) => {
      const items = input(a, c);
      const props = a.has('Property') ? list(a.get('Property')).map(toStr) : undefined;
      return items.length ? [new FormatText(formatList(formattable(items), props))] : [];
    },
  },
  'out-string': {
    params: ['InputObject', 'Width'],
    switches: ['Stream'],
    run: (a, c) => {
      const text = outDefault(input(a, c));
      return a.flag('Stream') ? text.replace(/\r\n$/, '').split(CRLF) : [text];
    },
  },
  'out-file': {
    params: ['FilePath', 'LiteralPath', 'Encoding', 'InputObject', 'Width'],
    positional: ['FilePath', 'Encoding'],
    switches: ['Append', 'NoNewline', 'NoClobber'],
    run: async (a, c) => {
      const path = a.str('LiteralPath') ?? a.str('FilePath') ?? '';
      const enc = fileEncoding(a.str('Encoding'), new PsEncoding('utf16le'));
      if (!(enc instanceof PsEncoding))
        throw new PsError(
          `Cannot bind parameter 'Encoding'. Cannot convert value "${a.str('Encoding')}" to type "System.String".`,
          {
            category: 'InvalidArgument',
            reason: 'ParameterBindingException',
            fqid: `CannotConvertArgumentNoMessage,${commandClass('out-file')}`,
            target: '',
          },
        );
      let text = outDefault(input(a, c));
      if (a.flag('NoNewline')) text = text.replace(/\r\n/g, '');
      const append = a.flag('Append') && c.m.isFile(path);
      const data = append ? enc.encode(text) : Buffer.concat([enc.preamble(), enc.encode(text)]);
      if (!c.m.writeFile(path, data, append))
        throw new PsError(`Could not find a part of the path '${path}'.`, {
          category: 'OpenError',
          reason: 'DirectoryNotFoundException',
          fqid: `FileOpenFailure,${commandClass('out-file')}`,
          target: '',
        });
      await c.m.env.persist();
      return [];
    },
  },
};
