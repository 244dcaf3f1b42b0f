// The lab's own XML for SOAP envelopes, on fast-xml-parser (docs/decisions/windows-0006-lab-wsman-server-from-
// the-specifications.md): requests are read by namespace URI, whatever prefixes the client chose (Namespaces in
// XML 1.0 scoping, default namespace included), and answers are written with Windows' prefixes. SOAP 1.2 forbids
// a document type declaration in a message, so one makes the request malformed; entities are the five XML
// predefines and character references, decoded here in one pass so `&amp;#65;` stays `&#65;`.
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

/** An element of a parsed message: expanded name (namespace URI + local name), attributes, children, text. */
export interface SoapElement {
  ns: string;
  local: string;
  /** Attributes by their name as written (`Name`, `CommandId`, `xml:lang`); namespace declarations left out. */
  attrs: Record<string, string>;
  children: SoapElement[];
  /** The element's own character data (text and CDATA), concatenated. */
  text: string;
}

export class MalformedXmlError extends Error {}

/** An element to write: `{ 'rsp:Stream': [{ '@_Name': 'stdout', '#text': '…' }] }`, attributes `@_`, text `#text`. */
export type XmlOut = { [name: string]: XmlOut | XmlOut[] | string };

type Ordered = Record<string, unknown> & { ':@'?: Record<string, string> };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  cdataPropName: '#cdata',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  processEntities: true,
});

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(raw: string): string {
  return raw.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new MalformedXmlError(`a bare '&' in character data`);
    const code = /^#x([0-9a-f]+)$/i.exec(ref)?.[1];
    const dec = /^#([0-9]+)$/.exec(ref)?.[1];
    if (code !== undefined || dec !== undefined) {
      const point = code !== undefined ? parseInt(code, 16) : Number(dec);
      if (point > 0x10ffff || point === 0) throw new MalformedXmlError(`character reference &${ref}; out of range`);
      return String.fromCodePoint(point);
    }
    const named = PREDEFINED[ref];
    if (named === undefined) throw new MalformedXmlError(`undeclared entity &${ref};`);
    return named;
  });
}

function splitName(qname: string): [prefix: string | undefined, local: string] {
  const colon = qname.indexOf(':');
  return colon < 0 ? [undefined, qname] : [qname.slice(0, colon), qname.slice(colon + 1)];
}

function toElement(node: Ordered, scope: ReadonlyMap<string, string>): SoapElement {
  const qname = Object.keys(node).find((k) => k !== ':@')!;
  const rawAttrs = node[':@'] ?? {};
  const inner = new Map(scope);
  const attrs: Record<string, string> = {};
  for (const [name, raw] of Object.entries(rawAttrs)) {
    const value = decodeEntities(raw);
    if (name === 'xmlns') inner.set('', value);
    else if (name.startsWith('xmlns:')) inner.set(name.slice(6), value);
    else attrs[name] = value;
  }
  const [prefix, local] = splitName(qname);
  const ns = inner.get(prefix ?? '');
  if (prefix !== undefined && ns === undefined) throw new MalformedXmlError(`unbound namespace prefix '${prefix}'`);
  const children: SoapElement[] = [];
  let text = '';
  for (const item of (node[qname] as Ordered[] | undefined) ?? []) {
    if ('#text' in item) text += decodeEntities(String(item['#text']));
    else if ('#cdata' in item) text += (item['#cdata'] as { '#text'?: string }[]).map((c) => c['#text'] ?? '').join('');
    else if (!('?xml' in item) && !('#comment' in item)) children.push(toElement(item, inner));
  }
  return { ns: ns ?? '', local, attrs, children, text };
}

/** Parses one XML document into its root element; throws MalformedXmlError for anything not well-formed. */
export function parseSoap(text: string): SoapElement {
  if (/<!DOCTYPE/i.test(text))
    throw new MalformedXmlError('a SOAP message must not contain a document type declaration');
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new MalformedXmlError(valid.err.msg);
  let parsed: Ordered[];
  try {
    parsed = parser.parse(text) as Ordered[];
  } catch (err) {
    throw new MalformedXmlError((err as Error).message);
  }
  const nodes = parsed.filter((n) => !('?xml' in n) && !('#comment' in n) && !('#text' in n));
  if (nodes.length !== 1) throw new MalformedXmlError('a document has exactly one root element');
  return toElement(nodes[0]!, new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
}

/** The first child element with this expanded name. */
export function childOf(el: SoapElement | undefined, ns: string, local: string): SoapElement | undefined {
  return el?.children.find((c) => c.ns === ns && c.local === local);
}

/** Every child element with this expanded name, in document order. */
export function childrenOf(el: SoapElement | undefined, ns: string, local: string): SoapElement[] {
  return el?.children.filter((c) => c.ns === ns && c.local === local) ?? [];
}

/** Writes one root element: no XML declaration and no whitespace between tags, as Windows answers. */
export function writeXml(root: XmlOut): string {
  return builder.build(root) as string;
}
