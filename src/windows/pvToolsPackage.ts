// Which Windows PV tools an installer is, and how each is installed silently with nothing updating itself
// afterwards (docs/reference/windows-current.md §2.1, §2.2, §2.5): XenServer VM Tools 9.x (managementagent*.msi)
// take YES/NO properties for driver install, driver updates through Windows Update and the agent's self-update;
// XCP-ng Windows PV Tools (XenTools-x64.msi, formerly XenDrivers-x64.msi) have no updater and no such properties,
// and refuse to install while the C000 vendor device is present, so has_vendor_device must be false before the
// first boot. The vendor device is wanted only for XenServer's driver delivery through Windows Update.

export type PvToolsKind = 'xenserver' | 'xcp-ng';

/** What the tools' vendors call them (messages, results). */
export const PV_TOOLS_PRODUCT: Record<PvToolsKind, string> = {
  xenserver: 'XenServer VM Tools',
  'xcp-ng': 'XCP-ng Windows PV Tools',
};

/** The file name each kind is staged under on the answer media (the names the vendors ship). */
export const STAGED_MSI: Record<PvToolsKind, string> = {
  xenserver: 'managementagentx64.msi',
  'xcp-ng': 'XenTools-x64.msi',
};

/** MSI file names of each kind: `managementagent-9.4.0-x64.msi`, `managementagentx64.msi`; `XenTools-x64.msi`. */
const MSI_NAMES: ReadonlyArray<[RegExp, PvToolsKind]> = [
  [/^managementagent.*x64\.msi$/i, 'xenserver'],
  [/^(XenTools|XenDrivers)-x64\.msi$/i, 'xcp-ng'],
];

/** The same patterns as one PowerShell `-match` expression, for the guest to find the MSI on a CD. */
export const MSI_NAME_PATTERN = '^(managementagent.*x64|XenTools-x64|XenDrivers-x64)\\.msi$';

/** The kind of tools a file name (path or URL) names, or undefined when the name does not tell. */
export function pvToolsKindOf(name: string): PvToolsKind | undefined {
  const base = name.split(/[\\/]/).pop() ?? '';
  return MSI_NAMES.find(([pattern]) => pattern.test(base))?.[1];
}

export interface PvToolsOptions {
  /** XenServer only: let Windows Update deliver driver updates (has_vendor_device, ALLOWDRIVERUPDATE=YES). */
  windowsUpdateDrivers: boolean;
}

/**
 * The MSI properties of a silent install without auto-update. XenServer: drivers installed now
 * (ALLOWDRIVERINSTALL=YES, not deferred to Windows Update), no agent self-update and no update identification;
 * driver updates through Windows Update only when asked for. XCP-ng: none (the package has no updater).
 */
export function pvToolsMsiProperties(kind: PvToolsKind, o: PvToolsOptions): string[] {
  if (kind === 'xcp-ng') return [];
  return [
    'ALLOWDRIVERINSTALL=YES',
    `ALLOWDRIVERUPDATE=${o.windowsUpdateDrivers ? 'YES' : 'NO'}`,
    'ALLOWAUTOUPDATE=NO',
    'IDENTIFYAUTOUPDATE=NO',
  ];
}

/** VM.has_vendor_device before the first boot: only for XenServer's Windows Update driver delivery. */
export function vendorDeviceFor(kind: PvToolsKind, o: PvToolsOptions): boolean {
  return kind === 'xenserver' && o.windowsUpdateDrivers;
}

/** Why a choice of tools and options cannot be built (empty when it can). */
export function pvToolsConflicts(kind: PvToolsKind, o: PvToolsOptions): string[] {
  return kind === 'xcp-ng' && o.windowsUpdateDrivers
    ? [
        'pvTools.windowsUpdateDrivers needs the XenServer VM Tools: the XCP-ng Windows PV Tools refuse to install beside the Windows Update vendor device',
      ]
    : [];
}
