// Autounattend.xml for a Windows Setup run from CD, built with xml2js's Builder (every value escaped):
// windowsPE (locale, disk layout matching the VM firmware, image by index or name, product key or none),
// specialize (computer name, time zone), oobeSystem (administrator password, one auto-logon, first-logon
// commands). Passwords use the PlainText=false form of Windows SIM: base64(UTF-16LE(password + suffix)).
import xml2js from 'xml2js';

export type Firmware = 'bios' | 'uefi';

export interface FirstLogonCommand {
  commandLine: string;
  description: string;
}

export interface AutounattendOptions {
  firmware: Firmware;
  image: { index: number } | { name: string };
  /** Resolved product key, or undefined for media that need none (evaluation, KMS client keys in the image). */
  productKey?: string;
  uiLanguage: string;
  inputLocale: string;
  systemLocale: string;
  userLocale: string;
  timeZone: string;
  computerName: string;
  adminPassword: string;
  firstLogonCommands: FirstLogonCommand[];
  organization: string;
}

const UNATTEND_NS = 'urn:schemas-microsoft-com:unattend';
const WCM_NS = 'http://schemas.microsoft.com/WMIConfig/2002/State';
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
/** CommandLine in SynchronousCommand is limited to 1024 characters by Windows Setup. */
export const MAX_COMMAND_LINE = 1024;

/** Windows SIM's "hide sensitive data" encoding (not encryption). */
export function encodeUnattendPassword(password: string, kind: 'AdministratorPassword' | 'Password'): string {
  return Buffer.from(password + kind, 'utf16le').toString('base64');
}

function component(name: string, body: Record<string, unknown>): Record<string, unknown> {
  return {
    $: {
      name,
      processorArchitecture: 'amd64',
      publicKeyToken: '31bf3856ad364e35',
      language: 'neutral',
      versionScope: 'nonSxS',
      'xmlns:wcm': WCM_NS,
      'xmlns:xsi': XSI_NS,
    },
    ...body,
  };
}

const add = { 'wcm:action': 'add' };

function diskConfiguration(firmware: Firmware): { disk: Record<string, unknown>; windowsPartition: number } {
  if (firmware === 'uefi') {
    return {
      windowsPartition: 3,
      disk: {
        $: add,
        DiskID: 0,
        WillWipeDisk: true,
        CreatePartitions: {
          CreatePartition: [
            { $: add, Order: 1, Type: 'EFI', Size: 100 },
            { $: add, Order: 2, Type: 'MSR', Size: 16 },
            { $: add, Order: 3, Type: 'Primary', Extend: true },
          ],
        },
        ModifyPartitions: {
          ModifyPartition: [
            { $: add, Order: 1, PartitionID: 1, Label: 'System', Format: 'FAT32' },
            { $: add, Order: 2, PartitionID: 3, Label: 'Windows', Letter: 'C', Format: 'NTFS' },
          ],
        },
      },
    };
  }
  return {
    windowsPartition: 2,
    disk: {
      $: add,
      DiskID: 0,
      WillWipeDisk: true,
      CreatePartitions: {
        CreatePartition: [
          { $: add, Order: 1, Type: 'Primary', Size: 500 },
          { $: add, Order: 2, Type: 'Primary', Extend: true },
        ],
      },
      ModifyPartitions: {
        ModifyPartition: [
          { $: add, Order: 1, PartitionID: 1, Label: 'System', Format: 'NTFS', Active: true },
          { $: add, Order: 2, PartitionID: 2, Label: 'Windows', Letter: 'C', Format: 'NTFS' },
        ],
      },
    },
  };
}

export function buildAutounattend(o: AutounattendOptions): string {
  for (const c of o.firstLogonCommands) {
    if (c.commandLine.length > MAX_COMMAND_LINE)
      throw new Error(`first-logon command "${c.description}" exceeds ${MAX_COMMAND_LINE} characters`);
  }
  const { disk, windowsPartition } = diskConfiguration(o.firmware);
  const metadata =
    'index' in o.image ? { Key: '/IMAGE/INDEX', Value: o.image.index } : { Key: '/IMAGE/NAME', Value: o.image.name };
  const userData: Record<string, unknown> = {
    AcceptEula: true,
    FullName: o.organization,
    Organization: o.organization,
  };
  if (o.productKey) userData.ProductKey = { Key: o.productKey, WillShowUI: 'OnError' };
  const locale = {
    InputLocale: o.inputLocale,
    SystemLocale: o.systemLocale,
    UILanguage: o.uiLanguage,
    UserLocale: o.userLocale,
  };
  const doc = {
    unattend: {
      $: { xmlns: UNATTEND_NS },
      settings: [
        {
          $: { pass: 'windowsPE' },
          component: [
            component('Microsoft-Windows-International-Core-WinPE', {
              SetupUILanguage: { UILanguage: o.uiLanguage },
              ...locale,
            }),
            component('Microsoft-Windows-Setup', {
              DiskConfiguration: { Disk: disk, WillShowUI: 'OnError' },
              ImageInstall: {
                OSImage: {
                  InstallFrom: { MetaData: { $: add, ...metadata } },
                  InstallTo: { DiskID: 0, PartitionID: windowsPartition },
                  WillShowUI: 'OnError',
                },
              },
              UserData: userData,
            }),
          ],
        },
        {
          $: { pass: 'specialize' },
          component: [
            component('Microsoft-Windows-Shell-Setup', { ComputerName: o.computerName, TimeZone: o.timeZone }),
          ],
        },
        {
          $: { pass: 'oobeSystem' },
          component: [
            component('Microsoft-Windows-International-Core', locale),
            component('Microsoft-Windows-Shell-Setup', {
              UserAccounts: {
                AdministratorPassword: {
                  Value: encodeUnattendPassword(o.adminPassword, 'AdministratorPassword'),
                  PlainText: false,
                },
              },
              AutoLogon: {
                Password: { Value: encodeUnattendPassword(o.adminPassword, 'Password'), PlainText: false },
                Enabled: true,
                LogonCount: 1,
                Username: 'Administrator',
              },
              OOBE: {
                HideEULAPage: true,
                HideLocalAccountScreen: true,
                HideOnlineAccountScreens: true,
                HideWirelessSetupInOOBE: true,
                NetworkLocation: 'Work',
                ProtectYourPC: 3,
              },
              FirstLogonCommands: {
                SynchronousCommand: o.firstLogonCommands.map((c, i) => ({
                  $: add,
                  Order: i + 1,
                  CommandLine: c.commandLine,
                  Description: c.description,
                  RequiresUserInput: false,
                })),
              },
              TimeZone: o.timeZone,
            }),
          ],
        },
      ],
    },
  };
  return new xml2js.Builder({
    xmldec: { version: '1.0', encoding: 'utf-8' },
    renderOpts: { pretty: true, indent: '  ', newline: '\r\n' },
  }).buildObject(doc);
}
