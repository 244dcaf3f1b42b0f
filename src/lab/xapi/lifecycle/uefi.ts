// UEFI firmware as XAPI drives it (xapi_xenops.ml firmware_of_vm / nvram_uefi_of_vm, xapi_vm.ml
// update_platform_secureboot, varstored): HVM_boot_params:firmware, the NVRAM map's keys, `secureboot=auto`
// resolved at start from the pool's certificates, and the EFI variable store varstored writes into
// NVRAM['EFI-variables'] at a VM's first UEFI boot, seeded with the pool's Secure Boot keys when Secure Boot is on
// (docs/lab.md, "UEFI, Secure Boot and vTPM"). The store's bytes are the lab's own format: XAPI treats them as
// an opaque base64 blob.
import tar from 'tar-stream';
import { apiError } from '../api/errors.js';
import type { Row } from '../db/database.js';

/** EFI_GLOBAL_VARIABLE (PK, KEK, SecureBoot, SetupMode) and EFI_IMAGE_SECURITY_DATABASE (db, dbx) GUIDs. */
export const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
export const EFI_SECURITY_DB = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';

const SECURE_BOOT_KEYS: ReadonlyArray<{ name: string; guid: string; file: string; text: string }> = [
  { name: 'PK', guid: EFI_GLOBAL, file: 'PK.auth', text: 'xenimage lab platform key' },
  { name: 'KEK', guid: EFI_GLOBAL, file: 'KEK.auth', text: 'Microsoft Corporation KEK CA 2011; KEK 2K CA 2023' },
  {
    name: 'db',
    guid: EFI_SECURITY_DB,
    file: 'db.auth',
    text: 'Microsoft Windows Production PCA 2011; Windows UEFI CA 2023; Microsoft UEFI CA 2011; UEFI CA 2023',
  },
  { name: 'dbx', guid: EFI_SECURITY_DB, file: 'dbx.auth', text: 'UEFI revocation list' },
];

/** pool.uefi_certificates: base64 of a tar of the *.auth files varstored installs (lab stand-ins). */
export async function poolUefiCertificates(): Promise<string> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const key of SECURE_BOOT_KEYS)
    pack.entry({ name: key.file, mode: 0o644, mtime: new Date(Date.UTC(2024, 0, 1)) }, `${key.text}\n`);
  pack.finalize();
  await done;
  return Buffer.concat(chunks).toString('base64');
}

export type Firmware = 'bios' | 'uefi';

/** firmware_of_vm: absent = BIOS; anything but bios/uefi fails the start; the NVRAM on-boot mode is checked too. */
export function firmwareOf(vm: Row): Firmware {
  const params = vm.HVM_boot_params as Record<string, string>;
  const value = params.firmware;
  if (value === undefined || value === 'bios') return 'bios';
  if (value !== 'uefi') throw apiError('INVALID_VALUE', "HVM-boot-params['firmware']", value);
  const onBoot = (vm.NVRAM as Record<string, string>)['EFI-variables-on-boot'];
  if (onBoot !== undefined && onBoot !== 'persist' && onBoot !== 'reset')
    throw apiError('INVALID_VALUE', "NVRAM['EFI-variables-on-boot']", onBoot);
  return 'uefi';
}

/** Vm_platform.is_true: "true"/"1" and "false"/"0" in any case; anything else is the default. */
export function platformFlag(platform: Record<string, string>, key: string, fallback = false): boolean {
  const v = platform[key]?.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return fallback;
}

interface LabVarstore {
  format: 'xenimage-lab-varstore';
  version: 1;
  variables: Array<{ guid: string; name: string }>;
}

/** What varstored writes at a first boot: the standard variables, and the pool's keys when Secure Boot is on. */
export function initialVarstore(secureBoot: boolean, poolHasKeys: boolean): string {
  const keys = secureBoot && poolHasKeys ? SECURE_BOOT_KEYS.map(({ name, guid }) => ({ name, guid })) : [];
  const store: LabVarstore = {
    format: 'xenimage-lab-varstore',
    version: 1,
    variables: [
      { guid: EFI_GLOBAL, name: 'BootOrder' },
      { guid: EFI_GLOBAL, name: 'Boot0000' },
      { guid: EFI_GLOBAL, name: 'SecureBoot' },
      { guid: EFI_GLOBAL, name: 'SetupMode' },
      ...keys,
    ],
  };
  return Buffer.from(JSON.stringify(store)).toString('base64');
}

/** Names of the variables in a store the lab wrote (empty for anything else). */
export function varstoreNames(blob: string | undefined): string[] {
  if (!blob) return [];
  try {
    const store = JSON.parse(Buffer.from(blob, 'base64').toString('utf8')) as Partial<LabVarstore>;
    return store.format === 'xenimage-lab-varstore' ? (store.variables ?? []).map((v) => v.name) : [];
  } catch {
    return [];
  }
}

/** Secure Boot is enforced: UEFI, platform:secureboot true, and a platform key enrolled (else setup mode). */
export function secureBootEnforced(vm: Row): boolean {
  const params = vm.HVM_boot_params as Record<string, string>;
  if (params.firmware !== 'uefi') return false;
  if (!platformFlag(vm.platform as Record<string, string>, 'secureboot')) return false;
  return varstoreNames((vm.NVRAM as Record<string, string>)['EFI-variables']).includes('PK');
}
