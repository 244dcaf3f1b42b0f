// The simulated Windows' cmdlets kept outside the interpreter (ps/cmdlets.ts): access settings and servicing states.
import type { CmdletDef } from '../ps/run.js';
import { ACCESS_CMDLETS } from './accessCmdlets.js';
import { SERVICING_CMDLETS } from './servicingCmdlets.js';

export const WINDOWS_CMDLETS: Record<string, CmdletDef> = { ...ACCESS_CMDLETS, ...SERVICING_CMDLETS };
