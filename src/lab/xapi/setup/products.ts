// The products a lab pool can be: what its hosts report (host.software_version, API version, editions), what its
// pool allows (pool.restrictions, the UEFI certificates Secure Boot keys come from), which stock templates it
// ships, and whether its XAPI has the VTPM class of xapi ≥ 22.26.0 (docs/lab.md, "Products"). XAPI's own rules
// (VTPM errors, Secure Boot resolution) do not vary by product; only these facts do.

export const PRODUCT_IDS = ['xenserver-8', 'xcp-ng-8.3', 'xcp-ng-8.2'] as const;
export type ProductId = (typeof PRODUCT_IDS)[number];

export const TEMPLATE_IDS = [
  'other-install-media',
  'windows-server-2022-64bit',
  'windows-10-64bit',
  'windows-11',
  'windows-server-2025',
] as const;
export type TemplateId = (typeof TEMPLATE_IDS)[number];

export interface ProductProfile {
  id: ProductId;
  /** host.software_version (create_misc.ml make_software_version; `hostname` is added per host). */
  softwareVersion: Record<string, string>;
  apiVersion: { major: number; minor: number };
  editions: string[];
  edition: string;
  /** pool.restrictions (a scenario may override single keys). */
  restrictions: Record<string, string>;
  /**
   * The VTPM class: `current` = xapi ≥ 22.26.0 (VTPM.create(vM, is_unique), get_all, …); `stub` = older xapi, whose
   * datamodel has VTPM {uuid, VM, backend} with a record constructor that answers NOT_IMPLEMENTED and no get_all
   * (xen-api v1.249.x ocaml/xapi/api_server.ml).
   */
  vtpm: 'current' | 'stub';
  /** pool.uefi_certificates holds Secure Boot keys (PK, KEK, db, dbx), so `secureboot=auto` resolves to true. */
  uefiCertificates: boolean;
  templates: TemplateId[];
}

const CURRENT_RESTRICTIONS = {
  restrict_vss: 'true',
  restrict_pool_size: 'false',
  restrict_vm_memory_limits: 'false',
  restrict_vtpm: 'false',
};

export const PRODUCTS: Record<ProductId, ProductProfile> = {
  'xenserver-8': {
    id: 'xenserver-8',
    softwareVersion: {
      product_version: '8.4.0',
      product_version_text: '8.4',
      product_version_text_short: '8.4',
      platform_name: 'XCP',
      platform_version: '3.4.0',
      product_brand: 'XenServer',
      xapi: '24.19',
      build_number: 'xenimage-lab',
      date: '2025-01-01',
      xapi_build: '24.19.2',
      xen: '4.17.5-lab',
      linux: '4.19.0+1',
      network_backend: 'openvswitch',
    },
    apiVersion: { major: 2, minor: 21 },
    editions: ['xenserver-premium'],
    edition: 'xenserver-premium',
    restrictions: CURRENT_RESTRICTIONS,
    vtpm: 'current',
    uefiCertificates: true,
    templates: [...TEMPLATE_IDS],
  },
  'xcp-ng-8.3': {
    id: 'xcp-ng-8.3',
    softwareVersion: {
      product_version: '8.3.0',
      product_version_text: '8.3',
      product_version_text_short: '8.3',
      platform_name: 'XCP',
      platform_version: '3.4.0',
      product_brand: 'XCP-ng',
      xapi: '24.19',
      build_number: 'release/yangtze/master/8.3',
      date: '2024-10-01',
      xapi_build: '24.19.2',
      xen: '4.17.5-lab',
      linux: '4.19.0+1',
      network_backend: 'openvswitch',
    },
    apiVersion: { major: 2, minor: 21 },
    editions: ['xcp-ng'],
    edition: 'xcp-ng',
    restrictions: CURRENT_RESTRICTIONS,
    vtpm: 'current',
    uefiCertificates: true,
    templates: [...TEMPLATE_IDS],
  },
  'xcp-ng-8.2': {
    id: 'xcp-ng-8.2',
    softwareVersion: {
      product_version: '8.2.1',
      product_version_text: '8.2',
      product_version_text_short: '8.2',
      platform_name: 'XCP',
      platform_version: '3.2.1',
      product_brand: 'XCP-ng',
      xapi: '1.249',
      build_number: 'release/stockholm/master/7',
      date: '2022-01-01',
      xapi_build: '1.249.17',
      xen: '4.13.5-lab',
      linux: '4.19.0+1',
      network_backend: 'openvswitch',
    },
    apiVersion: { major: 2, minor: 15 },
    editions: ['xcp-ng'],
    edition: 'xcp-ng',
    restrictions: { restrict_vss: 'true', restrict_pool_size: 'false', restrict_vm_memory_limits: 'false' },
    vtpm: 'stub',
    uefiCertificates: true,
    templates: ['other-install-media', 'windows-server-2022-64bit', 'windows-10-64bit'],
  },
};

/** VTPM messages of xapi < 22.26.0: the implicit ones of its {uuid, VM, backend} class, without get_all. */
const STUB_VTPM_MESSAGES = new Set([
  'VTPM.create',
  'VTPM.destroy',
  'VTPM.get_record',
  'VTPM.get_by_uuid',
  'VTPM.get_uuid',
  'VTPM.get_VM',
  'VTPM.get_backend',
]);

/** Messages an older XAPI does not have (MESSAGE_METHOD_UNKNOWN, absent from system.listMethods). */
export function productLacks(product: ProductProfile, wire: string): boolean {
  return product.vtpm === 'stub' && wire.startsWith('VTPM.') && !STUB_VTPM_MESSAGES.has(wire);
}
