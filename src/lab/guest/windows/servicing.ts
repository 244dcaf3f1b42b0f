// The simulated Windows' servicing and volume states that make sysprep fail, as the pre-sysprep checks find them
// (docs/reference/windows.md §4.4): a reboot pending (Component Based Servicing, Windows Update, pending file
// renames), updates still installing (TiWorker.exe running), BitLocker on the system volume, reserved storage.
// Kept on the disk with the rest of the state; a reboot completes what waits for one.
import type { WindowsMachine } from '../machine.js';
import type { WindowsState } from '../state.js';
import type { PreSysprepState } from './preSysprepState.js';

export const CBS_REBOOT_PENDING =
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending';
export const WU_REBOOT_REQUIRED =
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired';
export const SESSION_MANAGER = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager';

declare module '../state.js' {
  interface WindowsState {
    /** Updates installing: ms left (from the first look), or the time they end once someone looked. */
    updatesInstalling?: { ms: number; until?: number };
    bitlocker?: { volumeStatus: 'FullyEncrypted' | 'DecryptionInProgress' | 'FullyDecrypted'; decryptedAt?: number };
    reservedStorage?: 'Enabled' | 'Disabled';
  }
}

export function applyPreSysprepState(state: WindowsState, s: PreSysprepState): void {
  const key = (k: string) => k.toUpperCase();
  if (s.pendingFileRenames?.length)
    (state.registry[key(SESSION_MANAGER)] ??= {}).PendingFileRenameOperations = {
      type: 'REG_MULTI_SZ',
      data: s.pendingFileRenames.flatMap((f) => [`\\??\\${f}`, '']).join('\n'),
    };
  if (s.updateRebootRequired) state.registry[key(WU_REBOOT_REQUIRED)] ??= {};
  if (s.updatesInstallingMs) state.updatesInstalling = { ms: s.updatesInstallingMs };
  if (s.bitlocker) state.bitlocker = { volumeStatus: 'FullyEncrypted' };
  if (s.reservedStorage) state.reservedStorage = s.reservedStorage;
}

/** At boot: what waited for a reboot is done (servicing, Windows Update's reboot, the file renames). */
export function completePendingOnBoot(state: WindowsState): void {
  delete state.registry[WU_REBOOT_REQUIRED.toUpperCase()];
  delete state.registry[CBS_REBOOT_PENDING.toUpperCase()];
  const sm = state.registry[SESSION_MANAGER.toUpperCase()];
  if (sm) delete sm.PendingFileRenameOperations;
}

/** Servicing pending (reserved storage in use) is what CBS's RebootPending key says. */
export function cbsRebootPending(m: WindowsMachine): boolean {
  return m.state.servicingPending || m.regKeyExists(CBS_REBOOT_PENDING);
}

/** Whether TiWorker.exe still installs updates (the install ends `ms` after the guest is first asked). */
export function updatesInstalling(m: WindowsMachine): boolean {
  const u = m.state.updatesInstalling;
  if (!u) return false;
  u.until ??= Date.now() + m.env.scaled(u.ms);
  if (Date.now() < u.until) return true;
  delete m.state.updatesInstalling;
  return false;
}

export function bitlockerStatus(m: WindowsMachine): NonNullable<WindowsState['bitlocker']>['volumeStatus'] {
  const b = m.state.bitlocker;
  if (!b) return 'FullyDecrypted';
  if (b.volumeStatus === 'DecryptionInProgress' && b.decryptedAt !== undefined && Date.now() >= b.decryptedAt) {
    delete m.state.bitlocker;
    return 'FullyDecrypted';
  }
  return b.volumeStatus;
}
