// The kinds of build the CLI can start, with the schema of their input.
import type { z } from 'zod';
import { ConvertImageInputSchema } from '../contracts/convertInput.js';
import { VmImageInputSchema } from '../contracts/vmImageInput.js';
import { WindowsImageInputSchema } from '../contracts/windowsInput.js';

export interface BuildKind {
  name: string;
  workflowType: string;
  description: string;
  /** Every build input names the Glance image it makes. */
  schema: z.ZodType<{ image: { name: string } }>;
}

export const BUILD_KINDS = {
  convert: {
    name: 'convert',
    workflowType: 'convertImage',
    description: 'a disk file or URL (qcow2, raw, VHD, vmdk, vhdx, …) → tap VHD tarball → Glance',
    schema: ConvertImageInputSchema,
  },
  'from-vm': {
    name: 'from-vm',
    workflowType: 'vmImage',
    description: 'the system disk of an existing XenServer VM → tap VHD tarball → Glance',
    schema: VmImageInputSchema,
  },
  windows: {
    name: 'windows',
    workflowType: 'windowsImage',
    description: 'a Windows install ISO → installed, generalized Windows (PV tools, cloudbase-init, sysprep) → Glance',
    schema: WindowsImageInputSchema,
  },
} satisfies Record<string, BuildKind>;
