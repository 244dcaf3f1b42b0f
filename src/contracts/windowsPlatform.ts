// Firmware and trust of a Windows build: which release is being installed (given, or read from the image and ISO
// names), what that release needs (UEFI, Secure Boot, a vTPM), and the Glance properties that tell nova to boot
// the image the same way. Pure: the workflow checks the input with it before anything is created
// (docs/decisions/windows-0008-platform-requirements-by-release.md).
import { z } from 'zod';

export const WINDOWS_RELEASES = [
  'windows-10',
  'windows-11',
  'server-2016',
  'server-2019',
  'server-2022',
  'server-2025',
] as const;
export const WindowsReleaseSchema = z.enum(WINDOWS_RELEASES);
export type WindowsRelease = z.infer<typeof WindowsReleaseSchema>;

export type Firmware = 'bios' | 'uefi';

/** The platform a build VM gets: `secureBoot` and `vtpm` default to off (explicit input, never implied). */
export interface PlatformChoice {
  firmware: Firmware;
  secureBoot: boolean;
  vtpm: boolean;
}

export interface PlatformNeeds {
  uefi: boolean;
  secureBoot: boolean;
  vtpm: boolean;
}

/**
 * What each release's install refuses to go without, by this project's rule: Windows 11's Setup checks UEFI,
 * Secure Boot and TPM 2.0; Server 2025 is built UEFI only (its template supports no BIOS).
 */
export const RELEASE_NEEDS: Record<WindowsRelease, PlatformNeeds> = {
  'windows-10': { uefi: false, secureBoot: false, vtpm: false },
  'windows-11': { uefi: true, secureBoot: true, vtpm: true },
  'server-2016': { uefi: false, secureBoot: false, vtpm: false },
  'server-2019': { uefi: false, secureBoot: false, vtpm: false },
  'server-2022': { uefi: false, secureBoot: false, vtpm: false },
  'server-2025': { uefi: true, secureBoot: false, vtpm: false },
};

const NAME_PATTERNS: ReadonlyArray<[RegExp, WindowsRelease]> = [
  [/\bserver[ _-]?2025\b|server_eval_2025|_2025_x64/i, 'server-2025'],
  [/\bserver[ _-]?2022\b|server_eval_2022/i, 'server-2022'],
  [/\bserver[ _-]?2019\b|server_eval_2019/i, 'server-2019'],
  [/\bserver[ _-]?2016\b|server_eval_2016/i, 'server-2016'],
  [/\bwin(dows)?[ _-]?11\b|^win11/i, 'windows-11'],
  [/\bwin(dows)?[ _-]?10\b|^win10/i, 'windows-10'],
];

/** A release named in a WIM image name or an ISO file name ("Windows 11 Pro", "Win11_24H2_English_x64.iso"). */
export function releaseFromName(name: string): WindowsRelease | undefined {
  const spaced = name.replace(/_/g, ' ');
  for (const [pattern, release] of NAME_PATTERNS) if (pattern.test(name) || pattern.test(spaced)) return release;
  return undefined;
}

export interface ReleaseSources {
  release?: WindowsRelease | undefined;
  imageName?: string | undefined;
  installIso: string;
}

export interface DetectedRelease {
  release: WindowsRelease | null;
  /** Where it was read: the input's `windows.release`, the image name, the ISO name, or nowhere. */
  from: 'input' | 'image name' | 'ISO name' | 'unknown';
}

/** The release: as given, else from the image name, else from the ISO's name; null when none names one. */
export function detectRelease(s: ReleaseSources): DetectedRelease {
  if (s.release) return { release: s.release, from: 'input' };
  const byImage = s.imageName !== undefined ? releaseFromName(s.imageName) : undefined;
  if (byImage) return { release: byImage, from: 'image name' };
  const byIso = releaseFromName(s.installIso);
  if (byIso) return { release: byIso, from: 'ISO name' };
  return { release: null, from: 'unknown' };
}

/** What the choice lacks for the release, in words an operator can act on (empty: nothing is missing). */
export function missingForRelease(choice: PlatformChoice, release: WindowsRelease | null): string[] {
  if (!release) return [];
  const needs = RELEASE_NEEDS[release];
  const missing: string[] = [];
  if (needs.uefi && choice.firmware !== 'uefi') missing.push('UEFI firmware (windows.firmware: "uefi")');
  if (needs.secureBoot && !choice.secureBoot) missing.push('Secure Boot (windows.secureBoot: true)');
  if (needs.vtpm && !choice.vtpm) missing.push('a vTPM (vm.vtpm: true)');
  return missing;
}

/** Secure Boot and a vTPM are UEFI features: the input errors of a choice in itself, whatever the release. */
export function choiceConflicts(choice: PlatformChoice): string[] {
  const out: string[] = [];
  if (choice.firmware !== 'uefi' && choice.secureBoot) out.push('windows.secureBoot needs windows.firmware "uefi"');
  // XAPI refuses to boot a BIOS VM with a VTPM (NOT_IMPLEMENTED, docs/reference/windows-current.md §1.2).
  if (choice.firmware !== 'uefi' && choice.vtpm) out.push('vm.vtpm needs windows.firmware "uefi"');
  return out;
}

/** Glance properties of an image built on this platform (docs/reference/windows-current.md §6). */
export function platformImageProperties(choice: PlatformChoice): Record<string, string> {
  return {
    ...(choice.firmware === 'uefi' ? { hw_firmware_type: 'uefi' } : {}),
    ...(choice.firmware === 'uefi' && choice.secureBoot ? { os_secure_boot: 'required' } : {}),
    ...(choice.firmware === 'uefi' && choice.vtpm ? { hw_tpm_version: '2.0' } : {}),
  };
}

/** The platform part of a Windows build's result. */
export interface PlatformResult extends PlatformChoice {
  release: WindowsRelease | null;
  releaseFrom: DetectedRelease['from'];
  /** The VTPM the build VM got (its uuid), null without one. */
  vtpmUuid: string | null;
  /** The Glance properties the image got for its platform. */
  imageProperties: Record<string, string>;
}
