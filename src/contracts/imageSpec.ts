// The Glance image a build publishes, as operators write it in every workflow input.
import { z } from 'zod';

/** Glance property keys are free-form strings; values must be strings (the API refuses anything else). */
const propertyKey = z
  .string()
  .min(1)
  .max(255)
  .refine((k) => !RESERVED_PROPERTIES.has(k), { message: 'set this through its own field, not properties' });

const RESERVED_PROPERTIES = new Set([
  'id',
  'name',
  'visibility',
  'container_format',
  'disk_format',
  'min_disk',
  'min_ram',
  'tags',
  'status',
  'protected',
  'owner',
  'checksum',
  'size',
  'virtual_size',
  'os_hash_algo',
  'os_hash_value',
  'locations',
  'file',
  'self',
  'schema',
  'created_at',
  'updated_at',
  'direct_url',
]);

export const ImageSpecSchema = z
  .object({
    name: z.string().min(1).max(255),
    visibility: z.enum(['public', 'community', 'shared', 'private']).default('private'),
    properties: z.record(propertyKey, z.string().max(65_535)).default({}),
    minDiskGiB: z.number().int().min(0).max(65_535).optional(),
    minRamMiB: z.number().int().min(0).max(16_777_216).optional(),
  })
  .strict();

export type ImageSpec = z.infer<typeof ImageSpecSchema>;

export const VmModeSchema = z.enum(['hvm', 'xen']);
export type VmMode = z.infer<typeof VmModeSchema>;

export const OsTypeSchema = z.enum(['windows', 'linux']);
export type OsType = z.infer<typeof OsTypeSchema>;

/** A cloud of clouds.yaml, by name (openstacksdk's rules). */
export const CloudNameSchema = z.string().min(1).max(255);

/** Properties nova's XenAPI driver reads, merged under the operator's own. */
export function imageProperties(
  spec: ImageSpec,
  vmMode: VmMode,
  osType: OsType | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...spec.properties,
    ...extra,
    vm_mode: vmMode,
    ...(osType ? { os_type: osType } : {}),
    hypervisor_type: spec.properties.hypervisor_type ?? 'xen',
  };
}
