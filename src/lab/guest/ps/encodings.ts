// Text encodings of Windows PowerShell 5.1 and .NET Framework: the [Text.Encoding] objects, and the byte forms
// Out-File, Set-Content and Get-Content use (-Encoding Unicode, UTF8 with a BOM, ASCII, Default = the ANSI code
// page 1252, OEM = code page 437), with BOM detection when reading.

// Code page 437, bytes 0x80–0xFF.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
// Code page 1252, bytes 0x80–0x9F (the rest is ISO-8859-1; the five unassigned bytes map to U+FFFD here).
const CP1252_80 = '€\ufffd‚ƒ„…†‡ˆ‰Š‹Œ\ufffdŽ\ufffd\ufffd‘’“”•–—˜™š›œ\ufffdžŸ';

export type EncodingKind = 'utf8' | 'utf16le' | 'utf16be' | 'ascii' | 'cp1252' | 'cp437';

interface EncodingInfo {
  className: string;
  codePage: number;
  webName: string;
  encodingName: string;
}

const INFO: Record<EncodingKind, EncodingInfo> = {
  utf8: { className: 'System.Text.UTF8Encoding', codePage: 65001, webName: 'utf-8', encodingName: 'Unicode (UTF-8)' },
  utf16le: { className: 'System.Text.UnicodeEncoding', codePage: 1200, webName: 'utf-16', encodingName: 'Unicode' },
  utf16be: {
    className: 'System.Text.UnicodeEncoding',
    codePage: 1201,
    webName: 'utf-16BE',
    encodingName: 'Unicode (Big-Endian)',
  },
  ascii: { className: 'System.Text.ASCIIEncoding', codePage: 20127, webName: 'us-ascii', encodingName: 'US-ASCII' },
  cp1252: {
    className: 'System.Text.SBCSCodePageEncoding',
    codePage: 1252,
    webName: 'Windows-1252',
    encodingName: 'Western European (Windows)',
  },
  cp437: {
    className: 'System.Text.SBCSCodePageEncoding',
    codePage: 437,
    webName: 'IBM437',
    encodingName: 'OEM United States',
  },
};

/** A [System.Text.Encoding] value. `bom` is what its GetPreamble() gives (UTF8 and Unicode have one). */
export class PsEncoding {
  constructor(
    readonly kind: EncodingKind,
    readonly bom = kind === 'utf8' || kind === 'utf16le' || kind === 'utf16be',
  ) {}
  get className(): string {
    return INFO[this.kind].className;
  }
  get codePage(): number {
    return INFO[this.kind].codePage;
  }
  get webName(): string {
    return INFO[this.kind].webName;
  }
  get encodingName(): string {
    return INFO[this.kind].encodingName;
  }
  toString(): string {
    return this.className;
  }
  /** The bytes of `text` (no preamble), `?` for what the code page cannot represent. */
  encode(text: string): Buffer {
    return encodeText(text, this.kind);
  }
  decode(bytes: Uint8Array): string {
    return decodeText(Buffer.from(bytes), this.kind);
  }
  preamble(): Buffer {
    if (!this.bom) return Buffer.alloc(0);
    if (this.kind === 'utf8') return Buffer.from([0xef, 0xbb, 0xbf]);
    if (this.kind === 'utf16le') return Buffer.from([0xff, 0xfe]);
    return Buffer.from([0xfe, 0xff]);
  }
}

function singleByte(text: string, high: (ch: string) => number): Buffer {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out.push(c < 0x80 ? c : high(ch));
  }
  return Buffer.from(out);
}

export function encodeText(text: string, kind: EncodingKind): Buffer {
  switch (kind) {
    case 'utf8':
      return Buffer.from(text, 'utf8');
    case 'utf16le':
      return Buffer.from(text, 'utf16le');
    case 'utf16be':
      return Buffer.from(text, 'utf16le').swap16();
    case 'ascii':
      return singleByte(text, () => 0x3f);
    case 'cp437':
      return singleByte(text, (ch) => {
        const i = CP437_HIGH.indexOf(ch);
        return i < 0 ? 0x3f : 0x80 + i;
      });
    case 'cp1252':
      return singleByte(text, (ch) => {
        const c = ch.codePointAt(0)!;
        if (c >= 0xa0 && c <= 0xff) return c;
        const i = CP1252_80.indexOf(ch);
        return i < 0 || ch === '\ufffd' ? 0x3f : 0x80 + i;
      });
  }
}

export function decodeText(bytes: Buffer, kind: EncodingKind): string {
  switch (kind) {
    case 'utf8':
      return bytes.toString('utf8');
    case 'utf16le':
      return bytes.toString('utf16le');
    case 'utf16be':
      return Buffer.from(bytes).swap16().toString('utf16le');
    case 'ascii':
      return [...bytes].map((b) => (b < 0x80 ? String.fromCharCode(b) : '?')).join('');
    case 'cp437':
      return [...bytes].map((b) => (b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80]!)).join('');
    case 'cp1252':
      return [...bytes].map((b) => (b < 0x80 || b >= 0xa0 ? String.fromCharCode(b) : CP1252_80[b - 0x80]!)).join('');
  }
}

/** `-Encoding` names of Windows PowerShell 5.1's file cmdlets (FileSystemCmdletProviderEncoding). */
export function fileEncoding(name: string | undefined, fallback: PsEncoding): PsEncoding | 'byte' | undefined {
  if (name === undefined) return fallback;
  switch (name.toLowerCase()) {
    case 'unicode':
      return new PsEncoding('utf16le');
    case 'bigendianunicode':
      return new PsEncoding('utf16be');
    case 'utf8':
      return new PsEncoding('utf8');
    case 'ascii':
      return new PsEncoding('ascii');
    case 'default':
      return new PsEncoding('cp1252');
    case 'oem':
      return new PsEncoding('cp437');
    case 'string':
      return new PsEncoding('utf16le');
    case 'byte':
      return 'byte';
    default:
      return undefined;
  }
}

/** Decodes a file as Get-Content does: by its BOM, else with the given encoding (default: the ANSI code page). */
export function readText(bytes: Buffer, enc?: PsEncoding): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString('utf8');
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return decodeText(bytes.subarray(2), 'utf16be');
  return decodeText(bytes, enc?.kind ?? 'cp1252');
}
