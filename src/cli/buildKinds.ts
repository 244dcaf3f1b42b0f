// The kinds of build the CLI can start. Names and descriptions only, so command definitions stay light; the
// input schemas are in buildSchemas.ts, loaded by the commands that validate.

export interface BuildKind {
  name: BuildKindName;
  workflowType: string;
  description: string;
}

export const BUILD_KIND_NAMES = ['convert', 'from-vm', 'windows'] as const;
export type BuildKindName = (typeof BUILD_KIND_NAMES)[number];

export const BUILD_KINDS: Record<BuildKindName, BuildKind> = {
  convert: {
    name: 'convert',
    workflowType: 'convertImage',
    description: 'a disk file or URL (qcow2, raw, VHD, vmdk, vhdx, …) → tap VHD tarball → Glance',
  },
  'from-vm': {
    name: 'from-vm',
    workflowType: 'vmImage',
    description: 'the system disk of an existing XenServer VM → tap VHD tarball → Glance',
  },
  windows: {
    name: 'windows',
    workflowType: 'windowsImage',
    description: 'a Windows install ISO → installed, generalized Windows (PV tools, cloudbase-init, sysprep) → Glance',
  },
};

export function isBuildKindName(name: string): name is BuildKindName {
  return (BUILD_KIND_NAMES as readonly string[]).includes(name);
}
