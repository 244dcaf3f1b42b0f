// What a simulated Windows keeps on its system disk: accounts, groups, registry values the engine reads,
// services, installed products, files, WinRM configuration, certificates, AppX packages and setup state.
// It is serialized into the VM's VDI (through LabHostApi.readDisk/writeDisk), so snapshots, reverts and exports
// carry it exactly like a real disk would.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';

export type RegValue =
  | { type: 'REG_SZ' | 'REG_EXPAND_SZ' | 'REG_MULTI_SZ'; data: string }
  | { type: 'REG_DWORD' | 'REG_QWORD'; data: number };

export interface UserAccount {
  name: string;
  rid: number;
  /** sha256(salt + password), as hex: the simulated SAM never holds a password. */
  hash: string;
  salt: string;
  /** The NT hash (MD4 of the UTF-16LE password), as the SAM keeps it: what NTLM logons are checked against. */
  ntHash?: string;
  enabled: boolean;
  passwordNeverExpires: boolean;
}

export interface ServiceEntry {
  name: string;
  displayName: string;
  startType: 'AUTO_START' | 'DEMAND_START' | 'DISABLED';
  running: boolean;
  binaryPath: string;
}

export interface Product {
  name: string;
  version: string;
  productCode: string;
  msi: string;
  /** The public properties msiexec was given (NAME → value), as Windows Installer keeps them for the install. */
  properties?: Record<string, string>;
}

export interface AppxPackage {
  fullName: string;
  user: string;
  provisioned: boolean;
}

/** What Windows Update left on the disk (windows/updates.ts). */
export interface UpdateState {
  /** The scenario's update catalog (a name in windows/updates.ts CATALOGS); `default` when absent. */
  catalog?: string;
  installed: Record<string, { pendingReboot: boolean }>;
  /** Failed installations per KB. */
  failures: Record<string, number>;
  downloaded: string[];
  /** DISM /StartComponentCleanup runs; /ResetBase makes the installed updates permanent. */
  componentCleanups: Array<{ resetBase: boolean }>;
}

/** A registered scheduled task (windows/scheduledTasks.ts). */
export interface ScheduledTask {
  name: string;
  execute: string;
  argument: string;
  userId: string;
  runLevel: 'Limited' | 'Highest';
}

export type SetupPhase = 'specialize' | 'complete' | 'generalized';

export interface WindowsState {
  format: 1;
  computerName: string;
  image: { index: number; name: string };
  firmware: 'bios' | 'uefi';
  timeZone: string;
  uiLanguage: string;
  setupPhase: SetupPhase;
  users: Record<string, UserAccount>;
  groups: Record<string, { sid: string; members: string[] }>;
  /** Key path upper-cased (e.g. `HKLM\SOFTWARE\…`) → value name (as written) → value. */
  registry: Record<string, Record<string, RegValue>>;
  services: Record<string, ServiceEntry>;
  products: Product[];
  /** Path lower-cased → {path as written, base64 content}. Directories are implied by their files, or listed. */
  files: Record<string, { path: string; data: string }>;
  dirs: string[];
  winrm: {
    http: boolean;
    httpsThumbprint: string | null;
    basic: boolean;
    allowUnencrypted: boolean;
    firewall: number[];
  };
  certificates: Record<string, { pfx: string; passphrase: string; subject: string }>;
  appx: AppxPackage[];
  /** Windows Update left servicing pending (reserved storage in use): sysprep fails until a reboot. */
  servicingPending: boolean;
  generalizeCount: number;
  /** What the agent reports as PV_drivers_version: major/minor/micro/build, and per-driver entries (XCP-ng). */
  pvTools: Record<string, string> | null;
  /** PV drivers bind at the boot after the tools install. */
  pvDriversActive: boolean;
  /** Seed for the pseudo-random "system files" blocks. */
  seed: string;
  /**
   * Deleted data in free space (disk.ts writeFreeGarbage): byte extents on the system disk still holding old data,
   * and whether zeros were written over them. Absent on disks written before free-space garbage was modelled.
   */
  freeGarbage?: { extents: Array<{ offset: number; length: number }>; zeroed: boolean };
  /** Absent on disks written before Windows Update was modelled. */
  updates?: UpdateState;
  /** Task Scheduler's registered tasks, by lower-cased name. */
  scheduledTasks?: Record<string, ScheduledTask>;
}

export const SETUP_STATE_KEY = 'HKLM\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION\\SETUP\\STATE';
export const TOKEN_FILTER_KEY = 'HKLM\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION\\POLICIES\\SYSTEM';
export const ADMINISTRATORS_SID = 'S-1-5-32-544';

export function hashPassword(password: string, salt = randomBytes(8).toString('hex')): { hash: string; salt: string } {
  return { hash: createHash('sha256').update(salt).update(password, 'utf8').digest('hex'), salt };
}

/**
 * MD4(UTF-16LE(password)). Node 20's OpenSSL 3 has no MD4; Debian's openssl CLI does, through its legacy
 * provider (the password goes through stdin).
 */
export function ntHash(password: string): string {
  return execFileSync('openssl', ['dgst', '-md4', '-binary', '-provider', 'legacy', '-provider', 'default'], {
    input: Buffer.from(password, 'utf16le'),
    stdio: ['pipe', 'pipe', 'pipe'],
  }).toString('hex');
}

/** Everything an account stores about its password. */
export function credentials(password: string): { hash: string; salt: string; ntHash: string } {
  return { ...hashPassword(password), ntHash: ntHash(password) };
}

export function checkPassword(user: UserAccount, password: string): boolean {
  return hashPassword(password, user.salt).hash === user.hash;
}

/** A freshly installed Windows Server with the built-in Administrator holding `adminPassword`. */
export function freshInstall(o: {
  computerName: string;
  image: { index: number; name: string };
  firmware: 'bios' | 'uefi';
  timeZone: string;
  uiLanguage: string;
  adminPassword: string;
  seed: string;
}): WindowsState {
  const admin = credentials(o.adminPassword);
  const svc = (
    name: string,
    displayName: string,
    startType: ServiceEntry['startType'],
    binaryPath: string,
  ): ServiceEntry => ({
    name,
    displayName,
    startType,
    running: startType === 'AUTO_START',
    binaryPath,
  });
  return {
    format: 1,
    computerName: o.computerName,
    image: o.image,
    firmware: o.firmware,
    timeZone: o.timeZone,
    uiLanguage: o.uiLanguage,
    setupPhase: 'specialize',
    users: {
      administrator: { name: 'Administrator', rid: 500, ...admin, enabled: true, passwordNeverExpires: true },
      guest: {
        name: 'Guest',
        rid: 501,
        ...hashPassword(randomBytes(12).toString('hex')),
        enabled: false,
        passwordNeverExpires: true,
      },
    },
    groups: {
      administrators: { sid: ADMINISTRATORS_SID, members: ['Administrator'] },
      users: { sid: 'S-1-5-32-545', members: [] },
      'remote management users': { sid: 'S-1-5-32-580', members: [] },
    },
    registry: {
      [SETUP_STATE_KEY]: { ImageState: { type: 'REG_SZ', data: 'IMAGE_STATE_COMPLETE' } },
      [TOKEN_FILTER_KEY]: { EnableLUA: { type: 'REG_DWORD', data: 1 } },
    },
    services: {
      winrm: svc(
        'WinRM',
        'Windows Remote Management (WS-Management)',
        'DEMAND_START',
        'C:\\Windows\\System32\\svchost.exe -k NetworkService -p',
      ),
      winmgmt: svc(
        'Winmgmt',
        'Windows Management Instrumentation',
        'AUTO_START',
        'C:\\Windows\\system32\\svchost.exe -k netsvcs -p',
      ),
      trustedinstaller: svc(
        'TrustedInstaller',
        'Windows Modules Installer',
        'DEMAND_START',
        'C:\\Windows\\servicing\\TrustedInstaller.exe',
      ),
      wuauserv: svc('wuauserv', 'Windows Update', 'DEMAND_START', 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p'),
    },
    products: [],
    // What Setup and servicing leave behind: a CBS log and a temporary file (the build clears both).
    files: Object.fromEntries(
      [
        ['C:\\Windows\\Logs\\CBS\\CBS.log', 'Info                  CBS    Loaded Servicing Stack\r\n'],
        ['C:\\Windows\\Temp\\MpSigStub.log', 'Start time: 2026-01-01 00:00:00\r\n'],
      ].map(([path, text]) => [path!.toLowerCase(), { path: path!, data: Buffer.from(text!).toString('base64') }]),
    ),
    dirs: [
      'C:\\Windows',
      'C:\\Windows\\Temp',
      'C:\\Windows\\Logs\\CBS',
      'C:\\Windows\\SoftwareDistribution\\Download',
      'C:\\Windows\\Panther',
      'C:\\Windows\\System32',
      'C:\\Windows\\System32\\Sysprep',
      'C:\\Program Files',
      'C:\\Users',
    ],
    winrm: { http: false, httpsThumbprint: null, basic: false, allowUnencrypted: false, firewall: [] },
    certificates: {},
    appx: [],
    servicingPending: false,
    generalizeCount: 0,
    pvTools: null,
    pvDriversActive: false,
    seed: o.seed,
  };
}

/**
 * What the XenServer VM Tools installer leaves behind: the product, the agent service, the PV drivers. The XCP-ng
 * Windows PV Tools (9.2.350) leave their own product, the `xenplus` agent, and drivers that report their vendor
 * and version one entry each (docs/reference/windows-current.md §2.2, §2.7).
 */
export function addPvTools(
  state: WindowsState,
  msi: string,
  kind: 'xenserver' | 'xcp-ng' = 'xenserver',
  properties: Record<string, string> = {},
): void {
  if (kind === 'xcp-ng') {
    const drivers = ['xenbus', 'xenvbd', 'xennet', 'xenvif', 'xeniface', 'xencons'];
    state.pvTools = { major: '9', minor: '2', micro: '350', build: '0' };
    for (const d of drivers) state.pvTools[d] = 'XCP_ng 9.2.350 ';
    state.products.push({
      name: 'XCP-ng Windows PV Tools',
      version: '9.2.350',
      productCode: '{C6F5E7B0-2A34-4C1D-8E5B-93D0A1F2B7C4}',
      msi,
      properties,
    });
    const svc = (name: string, displayName: string, binaryPath: string): void => {
      state.services[name] = { name, displayName, startType: 'AUTO_START', running: false, binaryPath };
    };
    svc('xenplus', 'XCP-ng Guest Agent', 'C:\\Program Files\\XCP-ng\\Windows PV Drivers\\xenplus\\xenplus.exe');
    for (const d of drivers) svc(d, `XCP-ng PV ${d.slice(3)} driver`, `\\SystemRoot\\System32\\drivers\\${d}.sys`);
    return;
  }
  state.pvTools = { major: '9', minor: '4', micro: '0', build: '146' };
  state.products.push({
    name: 'XenServer VM Tools',
    version: '9.4.0.146',
    productCode: '{B0E2E5A2-6D5C-4E1E-9C2F-7A3B1C0D9E11}',
    msi,
    properties,
  });
  const add = (name: string, displayName: string, binaryPath: string): void => {
    state.services[name] = { name, displayName, startType: 'AUTO_START', running: false, binaryPath };
  };
  add('xenagent', 'XenServer Windows Management Agent', 'C:\\Program Files\\XenServer\\XenTools\\XenAgent.exe');
  for (const d of ['xenbus', 'xenvbd', 'xennet', 'xenvif', 'xeniface'])
    add(d, `XenServer PV ${d.slice(3)} driver`, `\\SystemRoot\\System32\\drivers\\${d}.sys`);
  if (!state.dirs.includes('C:\\Program Files\\XenServer\\XenTools'))
    state.dirs.push('C:\\Program Files\\XenServer\\XenTools');
}
