// PowerShell helpers for the client side: `-EncodedCommand` encoding (UTF-16LE base64, the form pywinrm
// uses), single-quoted literals that are safe for any value, and CLIXML stderr decoding.
import xml2js from 'xml2js';

export function encodePowerShell(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}

/** A single-quoted PowerShell literal: doubles `'` and its typographic look-alikes, which PowerShell also treats as quotes. */
export function psQuote(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

const CLIXML_HEADER = '#< CLIXML';

/** Decodes `_xHHHH_` escapes used by PowerShell's serializer. */
function unescapeClixml(s: string): string {
  return s.replace(/_x([0-9A-Fa-f]{4})_/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Turns PowerShell's CLIXML stderr into the error text a console would show; progress records are dropped.
 * Non-CLIXML input is returned unchanged.
 */
export async function decodeClixml(stderr: string): Promise<string> {
  const start = stderr.indexOf(CLIXML_HEADER);
  if (start < 0) return stderr;
  const before = stderr.slice(0, start);
  const xml = stderr.slice(start + CLIXML_HEADER.length).trim();
  const lines: string[] = [];
  for (const doc of xml.split(/(?=<Objs\b)/).filter((d) => d.trim())) {
    try {
      const parsed = (await xml2js.parseStringPromise(doc, {
        explicitChildren: true,
        preserveChildrenOrder: true,
      })) as {
        Objs?: { $$?: Array<{ '#name': string; _?: string; $?: { S?: string } }> };
      };
      for (const item of parsed.Objs?.$$ ?? []) {
        if (item['#name'] === 'S' && item.$?.S === 'Error') lines.push(unescapeClixml(item._ ?? ''));
      }
    } catch {
      lines.push(doc);
    }
  }
  return before + lines.join('');
}
