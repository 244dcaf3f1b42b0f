// What the Windows Update rounds reach besides the agent's COM objects (windows/updates.ts): New-Object -ComObject
// for the agent's ProgIDs, the ScheduledTasks module's cmdlets that run a script as SYSTEM (tasks kept in the
// machine state; a started task is a detached process of its principal), and dism.exe's component store clean-up.
// The interpreter merges these cmdlets with its own (ps/cmdlets.ts).
import type { Io } from '../io.js';
import { registerProgram } from '../io.js';
import { spawnDetached } from '../cmd.js';
import type { WindowsMachine } from '../machine.js';
import type { GuestProcess } from '../process.js';
import { PsError, toStr, type BoundArgs, type CmdletDef, type PsObject } from '../ps/run.js';
import type { ScheduledTask } from '../state.js';
import { updateCollection, updateSession, updateState } from './updates.js';

const PROG_IDS: Record<string, (m: WindowsMachine) => PsObject> = {
  'microsoft.update.session': updateSession,
  'microsoft.update.updatecoll': () => updateCollection(),
};

/** The running process of each started task, per boot of the machine (a reboot ends them). */
const RUNNING = new WeakMap<WindowsMachine, Map<string, GuestProcess>>();

function tasks(m: WindowsMachine): Record<string, ScheduledTask> {
  return (m.state.scheduledTasks ??= {});
}

function taskNotFound(name: string, cmdlet: string): PsError {
  return new PsError(
    `No MSFT_ScheduledTask objects found with property 'TaskName' equal to '${name}'.  Verify the value of the property and retry.`,
    {
      category: 'ObjectNotFound',
      reason: 'CimJobException',
      fqid: `CmdletizationQuery_NotFound_TaskName,${cmdlet}`,
      target: `${name}:String`,
    },
  );
}

function taskState(m: WindowsMachine, name: string): 'Ready' | 'Running' {
  const p = RUNNING.get(m)?.get(name.toLowerCase());
  return p && p.exitCode === undefined ? 'Running' : 'Ready';
}

function taskObject(m: WindowsMachine, t: ScheduledTask): PsObject {
  return {
    __type: 'Microsoft.Management.Infrastructure.CimInstance',
    TaskName: t.name,
    TaskPath: '\\',
    State: taskState(m, t.name),
  };
}

const SYSTEM = /^(SYSTEM|NT AUTHORITY\\SYSTEM|S-1-5-18)$/i;

function principalOf(a: BoundArgs): { userId: string; runLevel: 'Limited' | 'Highest' } {
  const p = a.get('Principal') as PsObject | undefined;
  const user = toStr(p?.UserId ?? a.str('User') ?? 'Administrator');
  const runLevel =
    toStr(p?.RunLevel ?? a.str('RunLevel') ?? 'Limited').toLowerCase() === 'highest' ? 'Highest' : 'Limited';
  return { userId: SYSTEM.test(user) ? 'SYSTEM' : user, runLevel };
}

export const UPDATES_CMDLETS: Record<string, CmdletDef> = {
  'new-object': {
    params: ['TypeName', 'ComObject', 'ArgumentList'],
    positional: ['TypeName', 'ArgumentList'],
    run: (a, c) => {
      const progId = a.str('ComObject');
      if (progId === undefined)
        throw new PsError(
          `Cannot find type [${a.str('TypeName') ?? ''}]: verify that the assembly containing this type is loaded.`,
          {
            category: 'InvalidType',
            reason: 'PSArgumentException',
            fqid: 'TypeNotFound,Microsoft.PowerShell.Commands.NewObjectCommand',
            target: '',
          },
        );
      const make = PROG_IDS[progId.toLowerCase()];
      if (!make)
        throw new PsError(
          `Retrieving the COM class factory for component with CLSID {00000000-0000-0000-0000-000000000000} failed due to the following error: 80040154 Class not registered (Exception from HRESULT: 0x80040154 (REGDB_E_CLASSNOTREG)).`,
          {
            category: 'ResourceUnavailable',
            reason: 'COMException',
            fqid: 'NoCOMClassIdentified,Microsoft.PowerShell.Commands.NewObjectCommand',
            target: '',
          },
        );
      return [make(c.m)];
    },
  },
  'new-scheduledtaskaction': {
    params: ['Execute', 'Argument', 'WorkingDirectory'],
    positional: ['Execute', 'Argument'],
    run: (a) => [
      {
        __type: 'Microsoft.Management.Infrastructure.CimInstance',
        Execute: a.str('Execute') ?? '',
        Arguments: a.str('Argument') ?? '',
        WorkingDirectory: a.str('WorkingDirectory') ?? null,
      },
    ],
  },
  'new-scheduledtaskprincipal': {
    params: ['UserId', 'LogonType', 'RunLevel', 'GroupId'],
    positional: ['UserId'],
    run: (a) => [
      {
        __type: 'Microsoft.Management.Infrastructure.CimInstance',
        UserId: a.str('UserId') ?? '',
        LogonType: a.str('LogonType') ?? 'Interactive',
        RunLevel: a.str('RunLevel') ?? 'Limited',
      },
    ],
  },
  'register-scheduledtask': {
    params: ['TaskName', 'Action', 'Principal', 'User', 'RunLevel', 'Trigger', 'Settings', 'TaskPath'],
    positional: ['TaskName'],
    run: async (a, c) => {
      const name = a.str('TaskName') ?? '';
      const action = (Array.isArray(a.get('Action')) ? (a.get('Action') as unknown[])[0] : a.get('Action')) as
        PsObject | undefined;
      if (!name || !action)
        throw new PsError('The parameter is incorrect.', {
          category: 'InvalidArgument',
          reason: 'CimException',
          fqid: 'HRESULT 0x80070057,Register-ScheduledTask',
          target: '',
        });
      if (tasks(c.m)[name.toLowerCase()] && !a.flag('Force'))
        throw new PsError('Cannot create a file when that file already exists.', {
          category: 'ResourceExists',
          reason: 'CimException',
          fqid: 'HRESULT 0x800700b7,Register-ScheduledTask',
          target: '',
        });
      const t: ScheduledTask = {
        name,
        execute: toStr(action.Execute),
        argument: toStr(action.Arguments),
        ...principalOf(a),
      };
      tasks(c.m)[name.toLowerCase()] = t;
      await c.m.env.persist();
      return [taskObject(c.m, t)];
    },
  },
  'get-scheduledtask': {
    params: ['TaskName', 'TaskPath'],
    positional: ['TaskName'],
    run: (a, c) => {
      const name = a.str('TaskName');
      if (name === undefined) return Object.values(tasks(c.m)).map((t) => taskObject(c.m, t));
      const t = tasks(c.m)[name.toLowerCase()];
      if (!t) throw taskNotFound(name, 'Get-ScheduledTask');
      return [taskObject(c.m, t)];
    },
  },
  'start-scheduledtask': {
    params: ['TaskName', 'TaskPath'],
    positional: ['TaskName'],
    run: (a, c) => {
      const name = a.str('TaskName') ?? '';
      const t = tasks(c.m)[name.toLowerCase()];
      if (!t)
        throw new PsError('The system cannot find the file specified.', {
          category: 'ObjectNotFound',
          reason: 'CimException',
          fqid: 'HRESULT 0x80070002,Start-ScheduledTask',
          target: '',
        });
      // A task already running is not started again (the default MultipleInstances policy, IgnoreNew).
      if (taskState(c.m, name) === 'Running') return [];
      const proc = spawnDetached(c.m, `"${t.execute}" ${t.argument}`, t.userId);
      let running = RUNNING.get(c.m);
      if (!running) RUNNING.set(c.m, (running = new Map()));
      running.set(name.toLowerCase(), proc);
      return [];
    },
  },
  'unregister-scheduledtask': {
    params: ['TaskName', 'TaskPath'],
    positional: ['TaskName'],
    run: async (a, c) => {
      const name = a.str('TaskName') ?? '';
      if (!tasks(c.m)[name.toLowerCase()]) throw taskNotFound(name, 'Unregister-ScheduledTask');
      delete tasks(c.m)[name.toLowerCase()];
      await c.m.env.persist();
      return [];
    },
  },
};

const DISM_BANNER = 'Deployment Image Servicing and Management tool\r\nVersion: 10.0.20348.681\r\n\r\n';

/** dism.exe /Online /Cleanup-Image /StartComponentCleanup [/ResetBase]; other servicing is not modelled (87). */
async function dism(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const flags = args.map((x) => x.toLowerCase());
  io.out(DISM_BANNER);
  const known = ['/online', '/cleanup-image', '/startcomponentcleanup', '/resetbase', '/quiet', '/norestart'];
  const unknown = args.find((x) => !known.includes(x.toLowerCase()));
  if (
    unknown !== undefined ||
    !flags.includes('/online') ||
    !flags.includes('/cleanup-image') ||
    !flags.includes('/startcomponentcleanup')
  ) {
    io.out(
      `\r\nError: 87\r\n\r\nThe ${unknown ?? args.join(' ')} option is unknown.\r\nFor more information, refer to the help by running DISM.exe /?.\r\n\r\nThe DISM log file can be found at C:\\Windows\\Logs\\DISM\\dism.log\r\n`,
    );
    return 87;
  }
  io.out(
    'Image Version: 10.0.20348.2762\r\n\r\n[==========================100.0%==========================]\r\nThe operation completed successfully.\r\n',
  );
  updateState(m.state).componentCleanups.push({ resetBase: flags.includes('/resetbase') });
  await m.env.persist();
  return 0;
}

registerProgram(['dism'], dism);
