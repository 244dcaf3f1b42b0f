// The guest's PV tools as its agent reports them (VM_guest_metrics.PV_drivers_version: major/minor/micro/build,
// and on newer XAPI one "<Vendor> <version> <attr>" entry per driver), judged against the XSA-468 fixes
// (docs/reference/windows-current.md §2.7, §2.8): a build that bakes vulnerable drivers into an image is told so;
// and the VM's Windows Update vendor device, which the tools decide.
import type { XapiConnection } from './connection.js';
import type { Ref } from './records.js';

export interface PvToolsAssessment {
  /** major.minor.micro.build as reported ("" when the agent reports none). */
  version: string;
  vendor: 'XenServer' | 'XCP-ng' | 'unknown';
  /** Older than the XSA-468 fixes: true, false, or null when the report does not tell. */
  xsa468Vulnerable: boolean | null;
  /** Set when vulnerable: what to install instead. */
  warning?: string;
}

type Version = number[];

function parse(v: string): Version | undefined {
  const parts = v.trim().split('.');
  if (parts.length < 2 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return parts.map(Number);
}

function older(a: Version, b: Version): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

/** First fixed versions per vendor and driver (advisory 468; the XCP-ng documentation's threshold). */
const FIXED: Record<'XenServer' | 'XCP-ng', Record<string, Version>> = {
  XenServer: { xenbus: [9, 1, 11, 115], xeniface: [9, 1, 12, 94] },
  'XCP-ng': { xenbus: [9, 0, 9065], xeniface: [9, 0, 9065], xencons: [9, 0, 9065] },
};
/** The tools packages that carry the fixes. */
const FIXED_TOOLS = { XenServer: 'XenServer VM Tools 9.4.1', 'XCP-ng': 'XCP-ng Windows PV Tools 9.0.9137' };
/** XenServer VM Tools below 9.4.1 carry vulnerable drivers (their PVAddons version is the package's). */
const XENSERVER_TOOLS_FIXED: Version = [9, 4, 1];

export function assessPvTools(reported: Record<string, string>): PvToolsAssessment {
  const version = ['major', 'minor', 'micro', 'build']
    .map((k) => reported[k])
    .filter((v) => v !== undefined && v !== '-1')
    .join('.');
  // Per-driver entries: "XenServer 9.1.9.105 ", "XCP_ng 9.0.9060 ".
  const drivers = Object.entries(reported)
    .map(([name, value]) => ({ name, m: /^(XenServer|XCP_ng)\s+([\d.]+)/.exec(value) }))
    .filter((d): d is { name: string; m: RegExpExecArray } => d.m !== null);
  const vendor = drivers.some((d) => d.m[1] === 'XCP_ng')
    ? 'XCP-ng'
    : drivers.some((d) => d.m[1] === 'XenServer')
      ? 'XenServer'
      : 'unknown';
  let vulnerable: boolean | null = null;
  if (vendor !== 'unknown') {
    const fixed = FIXED[vendor];
    const judged = drivers
      .filter((d) => fixed[d.name] !== undefined)
      .map((d) => ({ d, v: parse(d.m[2]!) }))
      .filter((x): x is { d: (typeof drivers)[number]; v: Version } => x.v !== undefined);
    if (judged.length > 0) vulnerable = judged.some((x) => older(x.v, fixed[x.d.name]!));
  } else {
    // No per-driver entries (older XAPI): XenServer VM Tools 9.x report the package version.
    const v = parse(version);
    if (v && v[0] === 9 && v.length >= 3) vulnerable = older(v, XENSERVER_TOOLS_FIXED);
  }
  const shownVendor = vendor === 'unknown' ? 'XenServer' : vendor;
  return {
    version,
    vendor,
    xsa468Vulnerable: vulnerable,
    ...(vulnerable
      ? {
          warning: `the PV tools (${version || 'unknown version'}) are older than the XSA-468 fixes (guest privilege escalation): install ${FIXED_TOOLS[shownVendor]} or later`,
        }
      : {}),
  };
}

/**
 * VM.has_vendor_device as the tools need it, set while the VM is halted (XAPI refuses it otherwise; it applies
 * at the next start, docs/reference/windows-current.md §2.5). A clone copies its template's value, so the build
 * sets it whatever the template says.
 */
export async function ensureVendorDevice(conn: XapiConnection, vm: Ref, wanted: boolean): Promise<void> {
  const rec = await conn.fetch('VM', vm);
  if (rec.has_vendor_device !== wanted) await conn.call('VM.set_has_vendor_device', vm, wanted);
}
