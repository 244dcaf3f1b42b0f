// Cmdlets of the simulated Windows for the states the pre-sysprep checks look at (servicing.ts): provisioned AppX
// packages, TiWorker.exe while updates install, BitLocker on C:, the reserved storage state.
import { CMDLETS } from '../ps/cmdlets.js';
import { PsError, type CmdletDef, type PsObject } from '../ps/run.js';
import type { WindowsMachine } from '../machine.js';
import { bitlockerStatus, updatesInstalling } from './servicing.js';

function volume(m: WindowsMachine): PsObject {
  const status = bitlockerStatus(m);
  return {
    __type: 'Microsoft.BitLocker.Structures.BitLockerVolume',
    MountPoint: 'C:',
    VolumeStatus: status,
    ProtectionStatus: status === 'FullyEncrypted' ? 'On' : 'Off',
    EncryptionPercentage: status === 'FullyEncrypted' ? 100 : status === 'DecryptionInProgress' ? 50 : 0,
  };
}

function systemVolume(mountPoint: string | undefined, key: string): void {
  if ((mountPoint ?? '').replace(/\\$/, '').toUpperCase() !== 'C:')
    throw new PsError(`${mountPoint ?? ''} is not a BitLocker volume in this simulation (only C: exists).`, {
      category: 'ObjectNotFound',
      reason: 'CimJobException',
      fqid: `HRESULT 0x80070002,${key}`,
      target: mountPoint ?? '',
    });
}

export const SERVICING_CMDLETS: Record<string, CmdletDef> = {
  'get-appxprovisionedpackage': {
    params: [],
    switches: ['Online'],
    run: (_a, c) =>
      c.m.state.appx
        .filter((p) => p.provisioned)
        .map((p) => ({
          __type: 'Microsoft.Dism.Commands.AppxPackageObject',
          PackageName: p.fullName,
          DisplayName: p.fullName.split('_')[0],
        })),
  },
  'get-process': {
    params: ['Name'],
    positional: ['Name'],
    run: (a, c) => {
      if (/^tiworker(\.exe)?$/i.test(a.str('Name') ?? '') && updatesInstalling(c.m))
        return [{ __type: 'System.Diagnostics.Process', Id: 4242, ProcessName: 'TiWorker' }];
      // Looked up at call time: the interpreter's modules import each other.
      return CMDLETS['get-process']!.run(a, c);
    },
  },
  'get-bitlockervolume': {
    params: ['MountPoint'],
    positional: ['MountPoint'],
    run: (a, c) => {
      systemVolume(a.str('MountPoint'), 'Get-BitLockerVolume');
      return [volume(c.m)];
    },
  },
  'disable-bitlocker': {
    params: ['MountPoint'],
    positional: ['MountPoint'],
    run: async (a, c) => {
      systemVolume(a.str('MountPoint'), 'Disable-BitLocker');
      const b = c.m.state.bitlocker;
      // Decryption runs in the background; the volume reports its progress until it is done.
      if (b?.volumeStatus === 'FullyEncrypted')
        c.m.state.bitlocker = {
          volumeStatus: 'DecryptionInProgress',
          decryptedAt: Date.now() + c.m.env.scaled(60_000),
        };
      await c.m.env.persist();
      return [volume(c.m)];
    },
  },
  'get-windowsreservedstoragestate': {
    params: [],
    run: (_a, c) => [
      {
        __type: 'Microsoft.Dism.Commands.ReservedStorageStateObject',
        ReservedStorageState: c.m.state.reservedStorage ?? 'Enabled',
      },
    ],
  },
};
