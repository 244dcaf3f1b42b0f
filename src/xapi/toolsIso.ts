// The Windows PV tools ISO of a pool, for builds given no tools installer, by the names the products ship it under
// (docs/reference/windows-current.md §2.3): on XenServer the tools SR's official ISO (is_tools_iso,
// guest-tools.iso, formerly xs-tools.iso); on XCP-ng that ISO holds only the Linux agent, so the Windows PV Tools
// ISO an operator put in an ISO SR (xcp-ng-windows-pv-tools*.iso, xcp-ng-tools*.iso, XenTools*.iso). None found
// is a typed error listing what was tried, before the build creates anything.
import { XenimageError } from '../errors.js';
import type { PvToolsKind } from '../windows/pvToolsPackage.js';
import type { XapiConnection } from './connection.js';
import type { Ref } from './records.js';

export interface ToolsIso {
  vdi: Ref;
  name: string;
  kind: PvToolsKind;
}

const XCP_NG_NAMES: ReadonlyArray<[RegExp, string]> = [
  [/^xcp-ng-windows-pv-tools.*\.iso$/i, 'xcp-ng-windows-pv-tools*.iso'],
  [/^xcp-ng-tools.*\.iso$/i, 'xcp-ng-tools*.iso'],
  [/^XenTools.*\.iso$/i, 'XenTools*.iso'],
];

export class ToolsIsoNotFoundError extends XenimageError {
  constructor(product: string, tried: string[]) {
    super(
      'PvToolsIsoNotFound',
      `no Windows PV tools ISO in the pool (${product}); tried ${tried.join(', ')}: put one in an ISO SR or give pvTools an installer`,
      { retryable: false, details: { product, tried } },
    );
  }
}

export async function findToolsIso(conn: XapiConnection): Promise<ToolsIso> {
  await conn.barrier();
  const pool = conn.all('pool')[0];
  const brand = (pool ? conn.cached('host', pool.master)?.software_version?.product_brand : undefined) ?? '';
  const xcpng = /xcp-ng/i.test(brand);
  const isos = conn
    .all('VDI')
    .filter((v) => {
      const sr = conn.cached('SR', v.SR);
      return sr !== undefined && (sr.content_type === 'iso' || sr.type === 'iso');
    })
    .sort((a, b) => a.name_label.localeCompare(b.name_label));
  const tried: string[] = [];
  if (!xcpng) {
    tried.push("the tools SR's guest-tools.iso / xs-tools.iso");
    const official = isos.find((v) => v.is_tools_iso === true && /^(guest-tools|xs-tools)/i.test(v.name_label));
    if (official) return { vdi: official.$ref, name: official.name_label, kind: 'xenserver' };
  }
  for (const [pattern, shown] of XCP_NG_NAMES) {
    tried.push(shown);
    // The newest by name (versions in the name sort last).
    const hit = isos.filter((v) => pattern.test(v.name_label)).pop();
    if (hit) return { vdi: hit.$ref, name: hit.name_label, kind: 'xcp-ng' };
  }
  throw new ToolsIsoNotFoundError(brand || 'unknown product', tried);
}
