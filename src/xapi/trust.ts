// Firmware and trust on the build VM: what the pool offers (the VTPM class, its licence, Secure Boot keys),
// checked before anything is created, and the VM's share of it — platform:secureboot and one VTPM, created while
// the VM is halted. XAPI copies the VTPM on snapshot and revert itself (docs/reference/windows-current.md §1.3),
// so nothing here follows it there. See docs/decisions/windows-0008-platform-requirements-by-release.md.
import { XenimageError } from '../errors.js';
import type { XapiConnection } from './connection.js';
import { XapiCallError } from './errors.js';
import type { Ref } from './records.js';

export interface PlatformWanted {
  firmware: 'bios' | 'uefi';
  secureBoot: boolean;
  vtpm: boolean;
}

export interface PoolPlatform {
  /** product_brand and product_version of the master, e.g. "XCP-ng 8.3.0". */
  product: string;
  /** host.software_version.xapi of the master. */
  xapi: string;
  /** The VTPM class of xapi ≥ 22.26.0 answers (VTPM.get_all). */
  vtpmClass: boolean;
  /** pool.restrictions.restrict_vtpm is exactly "false". */
  vtpmLicensed: boolean;
  /** pool.uefi_certificates holds keys: Secure Boot is enforced from a VM's first boot. */
  secureBootKeys: boolean;
}

export class PlatformUnsupportedError extends XenimageError {
  constructor(message: string, details: Record<string, unknown>) {
    super('PlatformUnsupported', message, { retryable: false, details });
  }
}

/** What the pool offers for UEFI, Secure Boot and vTPMs (read from its master and one probe call). */
export async function readPoolPlatform(conn: XapiConnection): Promise<PoolPlatform> {
  await conn.barrier();
  const pool = conn.all('pool')[0];
  if (!pool) throw new Error('the pool record is not in the cache');
  const master = conn.cached('host', pool.master);
  const sv = master?.software_version ?? {};
  let vtpmClass = true;
  try {
    await conn.call('VTPM.get_all');
  } catch (err) {
    if (!(err instanceof XapiCallError && err.code === 'MESSAGE_METHOD_UNKNOWN')) throw err;
    vtpmClass = false;
  }
  return {
    product: [sv.product_brand, sv.product_version].filter(Boolean).join(' ') || 'unknown product',
    xapi: sv.xapi ?? 'unknown',
    vtpmClass,
    vtpmLicensed: pool.restrictions?.restrict_vtpm === 'false',
    secureBootKeys: (pool.uefi_certificates ?? '') !== '',
  };
}

/** Throws PlatformUnsupported naming each thing the build wants that the pool cannot give. */
export function assertPoolSupports(pool: PoolPlatform, wanted: PlatformWanted): void {
  const missing: string[] = [];
  if (wanted.vtpm && !pool.vtpmClass)
    missing.push(`a vTPM: its XAPI (${pool.xapi}) has no VTPM class (needs xapi ≥ 22.26.0: XCP-ng 8.3, XenServer 8)`);
  else if (wanted.vtpm && !pool.vtpmLicensed) missing.push('a vTPM: the pool licence restricts it (restrict_vtpm)');
  if (wanted.secureBoot && !pool.secureBootKeys)
    missing.push('Secure Boot: the pool has no UEFI certificates to seed the VM with (pool.uefi_certificates)');
  if (missing.length > 0)
    throw new PlatformUnsupportedError(`the pool (${pool.product}) cannot give the build ${missing.join('; ')}`, {
      product: pool.product,
      xapi: pool.xapi,
      missing,
    });
}

/** platform:secureboot as wanted (UEFI only; left alone on BIOS, where it means nothing). */
export async function setSecureBoot(conn: XapiConnection, vm: Ref, wanted: PlatformWanted): Promise<void> {
  if (wanted.firmware !== 'uefi') return;
  const value = wanted.secureBoot ? 'true' : 'false';
  const rec = await conn.fetch('VM', vm);
  if (rec.platform.secureboot === value) return;
  await conn.call('VM.remove_from_platform', vm, 'secureboot');
  await conn.call('VM.add_to_platform', vm, 'secureboot', value);
}

export interface VtpmOnVm {
  ref: Ref;
  uuid: string;
  /** Whether this call found it (a previous attempt of the same build made it). */
  reused: boolean;
}

/**
 * The build VM's VTPM: the one it has, else VTPM.create on the halted VM. A VM has at most one (XAPI enforces it),
 * and the VM is the build's, so the VM's tag identifies the VTPM too; a lost answer is found on the retry.
 */
export async function ensureVtpm(conn: XapiConnection, vm: Ref): Promise<VtpmOnVm> {
  const existing = async (): Promise<VtpmOnVm | undefined> => {
    const [ref] = (await conn.fetch('VM', vm)).VTPMs ?? [];
    return ref ? { ref, uuid: await conn.call<string>('VTPM.get_uuid', ref), reused: true } : undefined;
  };
  const found = await existing();
  if (found) return found;
  try {
    const ref = await conn.call<Ref>('VTPM.create', vm, false);
    return { ref, uuid: await conn.call<string>('VTPM.get_uuid', ref), reused: false };
  } catch (err) {
    // Another attempt's create landed first.
    if (err instanceof XapiCallError && err.code === 'VTPM_MAX_AMOUNT_REACHED') {
      const again = await existing();
      if (again) return again;
    }
    throw err;
  }
}
