// Namespace-aware XML for WS-Management: xml2js parses (with xmlns on) into a small tree addressed by
// (namespace URI, local name), so neither side depends on the prefixes the other one chose. Building goes
// through xml2js's Builder so every value is escaped.
import xml2js from 'xml2js';

export interface XNode {
  uri: string;
  local: string;
  /** Attributes by local name (WS-Man attributes are unqualified, except xml:lang and mustUnderstand). */
  attrs: Record<string, string>;
  children: XNode[];
  text: string;
}

interface RawAttr {
  value: string;
  local: string;
  uri: string;
}

interface RawNode {
  $ns?: { uri: string; local: string };
  $?: Record<string, RawAttr>;
  $$?: RawNode[];
  _?: string;
  '#name'?: string;
}

function convert(raw: RawNode): XNode {
  const attrs: Record<string, string> = {};
  for (const a of Object.values(raw.$ ?? {})) {
    if (a.uri === 'http://www.w3.org/2000/xmlns/' || a.local === 'xmlns') continue;
    attrs[a.local] = a.value;
  }
  return {
    uri: raw.$ns?.uri ?? '',
    local: raw.$ns?.local ?? raw['#name'] ?? '',
    attrs,
    children: (raw.$$ ?? []).map(convert),
    text: raw._ ?? '',
  };
}

/** Parses a document; throws xml2js's error on malformed XML. Text stays text (no numeric coercion). */
export async function parseXml(text: string): Promise<XNode> {
  const doc = (await xml2js.parseStringPromise(text, {
    xmlns: true,
    explicitChildren: true,
    preserveChildrenOrder: true,
    explicitArray: true,
    trim: false,
    normalize: false,
  })) as Record<string, RawNode> | null;
  // xml2js gives null, not an error, for a body without any element (an empty 200 from a proxy).
  const rootRaw = doc ? Object.values(doc)[0] : undefined;
  if (!rootRaw) throw new Error('empty XML document');
  return convert(rootRaw);
}

export function child(node: XNode | undefined, uri: string, local: string): XNode | undefined {
  return node?.children.find((c) => c.uri === uri && c.local === local);
}

export function childrenOf(node: XNode | undefined, uri: string, local: string): XNode[] {
  return node?.children.filter((c) => c.uri === uri && c.local === local) ?? [];
}

/** Follows a path of [uri, local] steps from `node`. */
export function path(node: XNode | undefined, ...steps: Array<[string, string]>): XNode | undefined {
  let cur = node;
  for (const [uri, local] of steps) cur = child(cur, uri, local);
  return cur;
}

/** Depth-first search for the first element with this name. */
export function findDeep(node: XNode | undefined, uri: string, local: string): XNode | undefined {
  if (!node) return undefined;
  if (node.uri === uri && node.local === local) return node;
  for (const c of node.children) {
    const hit = findDeep(c, uri, local);
    if (hit) return hit;
  }
  return undefined;
}

/** An element for xml2js's Builder: `{ 'p:Name': { $: attrs, _: text, ...children } }`. */
export type BuildNode = Record<string, unknown>;

const builder = new xml2js.Builder({ headless: true, renderOpts: { pretty: false } });

/** Renders one root element (no XML declaration, no whitespace between tags, as Windows answers). */
export function buildXml(root: BuildNode): string {
  return builder.buildObject(root);
}
