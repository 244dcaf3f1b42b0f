// The input schema of each build kind (zod), for the commands that validate an input before starting a build.
import type { z } from 'zod';
import { ConvertImageInputSchema } from '../contracts/convertInput.js';
import { VmImageInputSchema } from '../contracts/vmImageInput.js';
import { WindowsImageInputSchema } from '../contracts/windowsInput.js';
import type { BuildKindName } from './buildKinds.js';

/** Every build input names the Glance image it makes. */
export const BUILD_SCHEMAS: Record<BuildKindName, z.ZodType<{ image: { name: string } }>> = {
  convert: ConvertImageInputSchema,
  'from-vm': VmImageInputSchema,
  windows: WindowsImageInputSchema,
};
