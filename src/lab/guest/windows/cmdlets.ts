// The simulated Windows' cmdlets kept outside the interpreter (ps/cmdlets.ts): access settings, servicing states
// and Windows Update.
import type { CmdletDef } from '../ps/run.js';
import { ACCESS_CMDLETS } from './accessCmdlets.js';
import { SERVICING_CMDLETS } from './servicingCmdlets.js';
import { UPDATES_CMDLETS } from './updatesCmdlets.js';

export const WINDOWS_CMDLETS: Record<string, CmdletDef> = {
  ...ACCESS_CMDLETS,
  ...SERVICING_CMDLETS,
  ...UPDATES_CMDLETS,
};
