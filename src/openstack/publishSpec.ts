// What a build publishes, and its validation before anything is created: Glance accepts only string values for
// custom properties and a closed set of visibilities, and refuses core fields passed as properties.
import { InvalidInputError } from '../errors.js';
import { VISIBILITIES, type CreateImageRequest, type Visibility } from './glance.js';

/** Tag prefix of every image a build creates. */
export const BUILD_TAG_PREFIX = 'xenimage-build:';
/** Property recording the build on the image (tags can be edited by users; this is for humans and audits). */
export const BUILD_ID_PROPERTY = 'xenimage_build_id';

export interface PublishSpec {
  buildId: string;
  name: string;
  visibility?: Visibility;
  minDiskGiB?: number;
  minRamMiB?: number;
  properties: Record<string, string>;
  /** Defaults: ovf / vhd, the XenServer VHD tarball formats. */
  containerFormat?: string;
  diskFormat?: string;
}

/** Image fields Glance owns or xenimage sets itself: they are not custom properties. */
const RESERVED = new Set([
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
  'os_hidden',
  BUILD_ID_PROPERTY,
]);

export function buildTag(buildId: string): string {
  return BUILD_TAG_PREFIX + buildId;
}

function nonNegativeInt(value: unknown, field: string): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value >= 0)) {
    throw new InvalidInputError(`${field} must be a non-negative integer`, { field });
  }
}

/** Throws InvalidInputError naming the first bad field; returns the create request for Glance. */
export function toCreateRequest(spec: PublishSpec): CreateImageRequest {
  const s = spec as unknown as Record<string, unknown>;
  if (typeof s.buildId !== 'string' || s.buildId.length === 0)
    throw new InvalidInputError('buildId must be a non-empty string', { field: 'buildId' });
  if (buildTag(spec.buildId).length > 255)
    throw new InvalidInputError('buildId is too long for a Glance tag (255 characters with its prefix)', {
      field: 'buildId',
    });
  if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > 255) {
    throw new InvalidInputError('name must be a string of 1 to 255 characters', { field: 'name' });
  }
  if (spec.visibility !== undefined && !VISIBILITIES.includes(spec.visibility)) {
    throw new InvalidInputError(`visibility "${String(spec.visibility)}" is not one of ${VISIBILITIES.join(', ')}`, {
      field: 'visibility',
    });
  }
  nonNegativeInt(spec.minDiskGiB, 'minDiskGiB');
  nonNegativeInt(spec.minRamMiB, 'minRamMiB');
  const props = s.properties;
  if (typeof props !== 'object' || props === null || Array.isArray(props)) {
    throw new InvalidInputError('properties must be an object of string values', { field: 'properties' });
  }
  for (const [key, value] of Object.entries(props)) {
    if (typeof value !== 'string') {
      throw new InvalidInputError(
        `property "${key}" must be a string (Glance accepts only strings; write "${String(value)}" in quotes)`,
        {
          field: `properties.${key}`,
        },
      );
    }
    if (key.length === 0 || key.length > 255)
      throw new InvalidInputError(`property names have 1 to 255 characters ("${key.slice(0, 40)}…")`, {
        field: 'properties',
      });
    if (RESERVED.has(key))
      throw new InvalidInputError(`"${key}" is an image field, not a custom property`, { field: `properties.${key}` });
  }
  for (const [field, value] of [
    ['containerFormat', spec.containerFormat],
    ['diskFormat', spec.diskFormat],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0))
      throw new InvalidInputError(`${field} must be a non-empty string`, { field });
  }
  return {
    name: spec.name,
    container_format: spec.containerFormat ?? 'ovf',
    disk_format: spec.diskFormat ?? 'vhd',
    ...(spec.visibility ? { visibility: spec.visibility } : {}),
    ...(spec.minDiskGiB !== undefined ? { min_disk: spec.minDiskGiB } : {}),
    ...(spec.minRamMiB !== undefined ? { min_ram: spec.minRamMiB } : {}),
    tags: [buildTag(spec.buildId)],
    properties: { ...(props as Record<string, string>), [BUILD_ID_PROPERTY]: spec.buildId },
  };
}
