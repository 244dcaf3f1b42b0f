// The `disks` provisioning XML of templates (xapi_templates.ml): a `<provision>` element without attributes
// holding only childless `<disk/>` elements with device, size, sr (SR uuid), bootable and optional type.
import { parseStringPromise } from 'xml2js';
import { apiError } from '../api/errors.js';

export interface ProvisionDisk {
  device: string;
  size: number;
  sr: string;
  bootable: boolean;
  type: string;
}

const TYPES = new Set(['system', 'user', 'ephemeral', 'suspend', 'crashdump']);

function parseFailure(detail: string) {
  return apiError('INTERNAL_ERROR', `Xapi_templates.Parse_failure(${JSON.stringify(detail)})`);
}

export async function parseProvisionXml(xml: string): Promise<ProvisionDisk[]> {
  let doc: unknown;
  try {
    doc = await parseStringPromise(xml, { explicitArray: true, explicitChildren: true, preserveChildrenOrder: true });
  } catch (err) {
    throw parseFailure((err as Error).message);
  }
  const top = (doc as Record<string, unknown> | null)?.provision;
  if (top === '') return []; // <provision/>
  const root = top as
    { $?: object; $$?: Array<{ '#name': string; $?: Record<string, string>; $$?: unknown[] }> } | undefined;
  if (!root || typeof root !== 'object') throw parseFailure('expected <provision>');
  if (root.$ && Object.keys(root.$).length > 0) throw parseFailure('<provision> takes no attributes');
  const disks: ProvisionDisk[] = [];
  for (const child of root.$$ ?? []) {
    if (child['#name'] !== 'disk' || (child.$$ && child.$$.length > 0))
      throw parseFailure(`unexpected <${child['#name']}>`);
    const attrs = child.$ ?? {};
    for (const key of ['device', 'size', 'sr', 'bootable'])
      if (attrs[key] === undefined) throw parseFailure(`<disk> lacks ${key}`);
    if (!/^\d+$/.test(attrs.size ?? '')) throw parseFailure(`bad size ${attrs.size ?? ''}`);
    const type = attrs.type ?? 'system';
    if (!TYPES.has(type)) throw parseFailure(`bad type ${type}`);
    disks.push({
      device: attrs.device!,
      size: Number(attrs.size),
      sr: attrs.sr!,
      bootable: attrs.bootable === 'true',
      type,
    });
  }
  return disks;
}
