// The kinds of build the CLI can start, with the schema of their input.
import type { z } from 'zod';
import { ConvertImageInputSchema } from '../contracts/convertInput.js';

export interface BuildKind<S extends z.ZodType = z.ZodType> {
  name: string;
  workflowType: string;
  description: string;
  schema: S;
  imageName(params: z.infer<S>): string;
}

function kind<S extends z.ZodType>(k: BuildKind<S>): BuildKind<S> {
  return k;
}

export const BUILD_KINDS = {
  convert: kind({
    name: 'convert',
    workflowType: 'convertImage',
    description: 'a disk file or URL (qcow2, raw, VHD, vmdk, vhdx, …) → tap VHD tarball → Glance',
    schema: ConvertImageInputSchema,
    imageName: (p) => p.image.name,
  }),
} satisfies Record<string, BuildKind>;
