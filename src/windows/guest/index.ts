// Operations inside a Windows guest over WinRM (used by activities/guest.ts).
export {
  addAdministrator,
  AdminPasswordPolicy,
  addAdministratorScript,
  USER_NAME as USER_NAME_PATTERN,
} from './administrator.js';
export { installCloudbaseInit, type CloudbaseInitInstall, type CloudbaseInitResult } from './installCloudbaseInit.js';
export { collectLogs, GUEST_LOGS, type CollectedLogs, type CollectLogsOptions, type LogTail } from './logs.js';
export { classifyMsiExit, ensurePvTools, type PvToolsResult } from './pvTools.js';
export { rebootAndWait } from './reboot.js';
export { GuestCommandFailed, type GuestContext, type GuestEndpoint } from './session.js';
export { classifySysprepLogs, GENERALIZED, issueShutdown, runSysprep, type SysprepResult } from './sysprep.js';
export { waitForWinrm, type WinrmReady } from './waitForWinrm.js';
export { applyRemedy, describeRemedy, parseRemedy, type Remedy } from './remedies.js';
export {
  removeBuildFiles,
  sealAndShutDown,
  removeBuildFilesScript,
  sealScript,
  BUILD_FILES,
  type GuestRemoteAccess,
} from './cleanImage.js';
export { clearCaches, clearCachesScript, CACHE_FOLDERS, OLD_LOGS } from './smallerImage.js';
export { preSysprepChecks, type CheckOutcome, type PreSysprepMode } from './preSysprep.js';
export { findHook, runHook, MAX_HOOK_BYTES } from './hooks.js';
export { componentCleanup, updateRound, type ComponentCleanupResult, type UpdateRoundResult } from './updates.js';
