// Windows Setup as the simulated guest plays it: finds the install media (a Windows ISO carrying
// the lab's sources/lab-media.json with the image list) and Autounattend.xml at the root of a CD, and checks
// the settings the engine relies on the way Setup would reject them.
import nodePath from 'node:path';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import xml2js from 'xml2js';
import type { CdDrive } from './machine.js';
import { WindowsMachine } from './machine.js';

export interface InstallMedia {
  drive: CdDrive;
  images: string[];
  /** The product the media installs ("Windows 11", "Windows Server 2025"), from the media's manifest. */
  product?: string;
}

export interface AnswerFile {
  drive: CdDrive;
  text: string;
}

export interface SetupPlan {
  image: { index: number; name: string };
  firmware: 'bios' | 'uefi';
  computerName: string;
  timeZone: string;
  uiLanguage: string;
  adminPassword: string;
  autoLogon: boolean;
  firstLogonCommands: Array<{ order: number; commandLine: string; description: string }>;
}

export class AnswerFileError extends Error {}

function findCi(dir: string, rel: string): string | undefined {
  let cur = dir;
  for (const part of rel.split('/')) {
    if (!existsSync(cur)) return undefined;
    const hit = readdirSync(cur).find((n) => n.toLowerCase() === part.toLowerCase());
    if (!hit) return undefined;
    cur = nodePath.join(cur, hit);
  }
  return cur;
}

export function findInstallMedia(drives: CdDrive[]): InstallMedia | undefined {
  for (const drive of drives) {
    const manifest = findCi(drive.dir, 'sources/lab-media.json');
    if (manifest) {
      const data = JSON.parse(readFileSync(manifest, 'utf8')) as { images?: unknown; product?: unknown };
      if (Array.isArray(data.images) && data.images.every((i) => typeof i === 'string'))
        return {
          drive,
          images: data.images as string[],
          ...(typeof data.product === 'string' ? { product: data.product } : {}),
        };
    }
  }
  return undefined;
}

/** Setup's search order for removable read-only media: the root of each CD, by drive letter. */
export function findAnswerFile(drives: CdDrive[]): AnswerFile | undefined {
  for (const drive of drives) {
    const f = findCi(drive.dir, 'Autounattend.xml');
    if (f) return { drive, text: readFileSync(f, 'utf8') };
  }
  return undefined;
}

type El = Record<string, unknown> & { $?: Record<string, string>; _?: string };

function kids(el: El | undefined, name: string): El[] {
  const v = el?.[name];
  return Array.isArray(v) ? (v as El[]) : [];
}

function text(el: El | undefined, name: string): string | undefined {
  const v = kids(el, name)[0] as unknown;
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v.trim();
  return ((v as El)._ ?? '').trim();
}

function decodePassword(el: El | undefined, suffix: string, where: string): string {
  const value = text(el, 'Value');
  if (value === undefined) throw new AnswerFileError(`${where}: no Value`);
  if ((text(el, 'PlainText') ?? 'true').toLowerCase() === 'true') return value;
  const decoded = Buffer.from(value, 'base64').toString('utf16le');
  if (!decoded.endsWith(suffix))
    throw new AnswerFileError(`[Shell Unattend] Failed to decode password (0x8007000d) in ${where}`);
  return decoded.slice(0, -suffix.length);
}

/** What the VM offers Setup's compatibility check: firmware, Secure Boot as enforced, a TPM 2.0. */
export interface SetupHardware {
  firmware: 'bios' | 'uefi';
  secureBoot: boolean;
  vtpm: boolean;
}

/**
 * Windows 11 Setup's compatibility check, before it touches the disk: no UEFI, no Secure Boot or no TPM 2.0 and it
 * stops with "This PC can't run Windows 11" and the reasons (docs/reference/windows-current.md §1.6). Other media
 * install on anything the VM offers. Empty when Setup goes on.
 */
export function setupRefusals(media: InstallMedia, hw: SetupHardware): string[] {
  if (!/^windows 11\b/i.test(media.product ?? '')) return [];
  const reasons: string[] = [];
  if (hw.firmware !== 'uefi') reasons.push('The PC must support UEFI firmware.');
  if (!hw.secureBoot) reasons.push('The PC must support Secure Boot.');
  if (!hw.vtpm) reasons.push('The PC must support TPM 2.0.');
  return reasons;
}

/** Parses and checks Autounattend.xml against the media and the VM; throws AnswerFileError with Setup's reason. */
export async function planSetup(answer: string, media: InstallMedia, firmware: 'bios' | 'uefi'): Promise<SetupPlan> {
  let doc: { unattend?: El };
  try {
    doc = (await xml2js.parseStringPromise(answer, { explicitArray: true })) as { unattend?: El };
  } catch (err) {
    throw new AnswerFileError(
      `Windows could not parse or process the unattend answer file for pass [windowsPE]: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  const root = doc.unattend;
  if (!root || root.$?.xmlns !== 'urn:schemas-microsoft-com:unattend')
    throw new AnswerFileError('the answer file is not an unattend document (urn:schemas-microsoft-com:unattend)');
  const pass = (p: string): El | undefined => kids(root, 'settings').find((s) => s.$?.pass === p);
  const comp = (p: string, name: string): El | undefined => kids(pass(p), 'component').find((c) => c.$?.name === name);

  const setup = comp('windowsPE', 'Microsoft-Windows-Setup');
  if (!setup)
    throw new AnswerFileError(
      'windowsPE: Microsoft-Windows-Setup is missing (Setup would stop at the partition dialog)',
    );
  const disk = kids(kids(setup, 'DiskConfiguration')[0], 'Disk')[0];
  const created = kids(kids(disk, 'CreatePartitions')[0], 'CreatePartition').map((p) => ({
    order: Number(text(p, 'Order')),
    type: text(p, 'Type') ?? '',
  }));
  const modified = kids(kids(disk, 'ModifyPartitions')[0], 'ModifyPartition');
  if (!disk || created.length === 0) throw new AnswerFileError('windowsPE: no DiskConfiguration/Disk/CreatePartitions');
  const hasEfi = created.some((p) => p.type === 'EFI');
  if (firmware === 'uefi' && (!hasEfi || !created.some((p) => p.type === 'MSR'))) {
    throw new AnswerFileError(
      'windowsPE: the VM boots UEFI but the disk layout has no EFI and MSR partitions (Windows cannot be installed to this disk: GPT required)',
    );
  }
  if (firmware === 'bios' && (hasEfi || !modified.some((m) => text(m, 'Active') === 'true'))) {
    throw new AnswerFileError(
      'windowsPE: the VM boots BIOS but the disk layout is not MBR with an active system partition',
    );
  }
  const os = kids(kids(setup, 'ImageInstall')[0], 'OSImage')[0];
  const meta = kids(kids(os, 'InstallFrom')[0], 'MetaData')[0];
  const key = text(meta, 'Key')?.toUpperCase();
  const value = text(meta, 'Value') ?? '';
  let image: { index: number; name: string };
  if (key === '/IMAGE/INDEX') {
    const index = Number(value);
    if (!Number.isInteger(index) || index < 1 || index > media.images.length)
      throw new AnswerFileError(
        `windowsPE: image index ${value} does not exist in install.wim (${media.images.length} images)`,
      );
    image = { index, name: media.images[index - 1]! };
  } else if (key === '/IMAGE/NAME') {
    const i = media.images.findIndex((n) => n.toLowerCase() === value.toLowerCase());
    if (i < 0) throw new AnswerFileError(`windowsPE: no image named "${value}" in install.wim`);
    image = { index: i + 1, name: media.images[i]! };
  } else {
    throw new AnswerFileError(
      'windowsPE: ImageInstall/OSImage/InstallFrom/MetaData must select /IMAGE/INDEX or /IMAGE/NAME',
    );
  }
  const partitionId = Number(text(kids(os, 'InstallTo')[0], 'PartitionID'));
  if (!created.some((p) => p.order === partitionId && p.type === 'Primary'))
    throw new AnswerFileError(`windowsPE: InstallTo partition ${partitionId} is not a primary partition of the layout`);
  const userData = kids(setup, 'UserData')[0];
  if (text(userData, 'AcceptEula') !== 'true')
    throw new AnswerFileError('windowsPE: UserData/AcceptEula is not true (Setup would show the license terms)');
  const productKey = text(kids(userData, 'ProductKey')[0], 'Key');
  if (productKey !== undefined && !/^([A-Z0-9]{5}-){4}[A-Z0-9]{5}$/.test(productKey))
    throw new AnswerFileError('windowsPE: the product key is not valid');

  const special = comp('specialize', 'Microsoft-Windows-Shell-Setup');
  const computerName = text(special, 'ComputerName') ?? 'WIN-' + Math.random().toString(36).slice(2, 13).toUpperCase();
  if (computerName !== '*' && !/^[A-Za-z0-9-]{1,15}$/.test(computerName))
    throw new AnswerFileError(`specialize: ComputerName "${computerName}" is not valid`);

  const oobe = comp('oobeSystem', 'Microsoft-Windows-Shell-Setup');
  if (!oobe)
    throw new AnswerFileError('oobeSystem: Microsoft-Windows-Shell-Setup is missing (OOBE would wait for input)');
  const adminPassword = decodePassword(
    kids(kids(oobe, 'UserAccounts')[0], 'AdministratorPassword')[0],
    'AdministratorPassword',
    'UserAccounts/AdministratorPassword',
  );
  if (!WindowsMachine.meetsPolicy('Administrator', adminPassword))
    throw new AnswerFileError('oobeSystem: the administrator password does not meet the password policy requirements');
  const autoLogonEl = kids(oobe, 'AutoLogon')[0];
  const autoLogon = text(autoLogonEl, 'Enabled') === 'true';
  if (autoLogon) {
    const p = decodePassword(kids(autoLogonEl, 'Password')[0], 'Password', 'AutoLogon/Password');
    if ((text(autoLogonEl, 'Username') ?? '').toLowerCase() !== 'administrator' || p !== adminPassword)
      throw new AnswerFileError('oobeSystem: AutoLogon credentials do not match an account');
  }
  const commands = kids(kids(oobe, 'FirstLogonCommands')[0], 'SynchronousCommand').map((c) => ({
    order: Number(text(c, 'Order')),
    commandLine: text(c, 'CommandLine') ?? '',
    description: text(c, 'Description') ?? '',
  }));
  const orders = new Set(commands.map((c) => c.order));
  if (orders.size !== commands.length || commands.some((c) => !Number.isInteger(c.order) || c.order < 1))
    throw new AnswerFileError('oobeSystem: FirstLogonCommands need unique positive Order values');
  if (commands.some((c) => c.commandLine.length === 0 || c.commandLine.length > 1024))
    throw new AnswerFileError('oobeSystem: a FirstLogonCommands CommandLine is empty or longer than 1024 characters');
  return {
    image,
    firmware,
    computerName,
    timeZone: text(oobe, 'TimeZone') ?? text(special, 'TimeZone') ?? 'UTC',
    uiLanguage: text(comp('windowsPE', 'Microsoft-Windows-International-Core-WinPE'), 'UILanguage') ?? 'en-US',
    adminPassword,
    autoLogon,
    firstLogonCommands: commands.sort((a, b) => a.order - b.order),
  };
}
