// The cmdlets the simulated Windows understands, with PowerShell's error messages and ids for the failures the
// engine must classify. Each one acts on the WindowsMachine (and so on the VM's disk).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import nodePath from 'node:path';
import { spawnDetached, splitArgs, Cmd, quoteArg } from '../cmd.js';
import { runProgram } from '../programs.js';
import { WindowsMachine } from '../machine.js';
import { sleep } from '../process.js';
import { ADMINISTRATORS_SID, credentials } from '../state.js';
import { PsEncoding, fileEncoding, readText } from './encodings.js';
import { recordFirewallRule } from '../windows/firewall.js';
import {
  BoundArgs,
  PsError,
  SecureString,
  commandClass,
  toStr,
  truthy,
  type CmdletDef,
  type PsObject,
  type CmdletContext,
} from './run.js';

const CRLF = '\r\n';

function required(a: BoundArgs, name: string, key: string): string {
  const v = a.str(name);
  if (v === undefined || v === '') {
    throw new PsError(`Cannot bind argument to parameter '${name}' because it is an empty string.`, {
      category: 'InvalidData',
      reason: 'ParameterBindingValidationException',
      fqid: `ParameterArgumentValidationErrorEmptyStringNotAllowed,${commandClass(key)}`,
      target: '',
    });
  }
  return v;
}

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(toStr);
}

/** `HKLM:\…`, `Registry::HKEY_LOCAL_MACHINE\…` → registry key, else undefined. */
function regPath(p: string): string | undefined {
  const s = p.replace(/^Microsoft\.PowerShell\.Core\\Registry::/i, '').replace(/^Registry::/i, '');
  if (/^HKLM:/i.test(s) || /^HKEY_LOCAL_MACHINE/i.test(s))
    return WindowsMachine.regKey(s.replace(/^HKLM:\\?/i, 'HKLM\\'));
  return undefined;
}

function notFoundPath(p: string, key: string): PsError {
  return new PsError(`Cannot find path '${p}' because it does not exist.`, {
    category: 'ObjectNotFound',
    reason: 'ItemNotFoundException',
    fqid: `PathNotFound,${commandClass(key)}`,
    target: `${p}:String`,
  });
}

function service(ctx: CmdletContext, name: string, key: string): NonNullable<ReturnType<WindowsMachine['service']>> {
  const s = ctx.m.service(name);
  if (!s) {
    throw new PsError(`Cannot find any service with service name '${name}'.`, {
      category: 'ObjectNotFound',
      reason: 'ServiceCommandException',
      fqid: `NoServiceFoundForGivenName,${commandClass(key)}`,
      target: `${name}:String`,
    });
  }
  return s;
}

function serviceObject(s: NonNullable<ReturnType<WindowsMachine['service']>>): PsObject {
  return {
    __type: 'System.ServiceProcess.ServiceController',
    Status: s.running ? 'Running' : 'Stopped',
    Name: s.name,
    DisplayName: s.displayName,
    StartType: s.startType === 'AUTO_START' ? 'Automatic' : s.startType === 'DEMAND_START' ? 'Manual' : 'Disabled',
  };
}

function psJson(v: unknown, depth = 0): unknown {
  if (v instanceof SecureString) return 'System.Security.SecureString';
  if (Array.isArray(v)) return v.map((x) => psJson(x, depth + 1));
  if (v && typeof v === 'object') {
    if (depth > 2) return toStr(v);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!k.startsWith('__')) out[k] = psJson(x, depth + 1);
    return out;
  }
  return v;
}

async function persist(ctx: CmdletContext): Promise<void> {
  await ctx.m.env.persist();
}

export const CMDLETS: Record<string, CmdletDef> = {
  'write-output': {
    params: ['InputObject'],
    positional: ['InputObject'],
    run: (a, c) => (a.has('InputObject') ? [a.get('InputObject')] : (c.input ?? [])),
  },
  'write-host': {
    params: ['Object'],
    positional: ['Object'],
    switches: ['NoNewline'],
    run: (a, c) => {
      c.io.out(toStr(a.get('Object')) + (a.flag('NoNewline') ? '' : CRLF));
      return [];
    },
  },
  'write-error': {
    params: ['Message'],
    positional: ['Message'],
    run: (a) => {
      throw new PsError(a.str('Message') ?? '', {
        category: 'NotSpecified',
        reason: 'WriteErrorException',
        fqid: 'Microsoft.PowerShell.Commands.WriteErrorException',
        target: '',
      });
    },
  },
  'out-null': { params: ['InputObject'], run: () => [] },
  'start-sleep': {
    params: ['Seconds', 'Milliseconds'],
    positional: ['Seconds'],
    run: async (a, c) => {
      const ms = a.has('Milliseconds') ? Number(a.get('Milliseconds')) : Number(a.get('Seconds') ?? 0) * 1000;
      await sleep(c.m.env.scaled(ms), c.io.proc.signal);
      return [];
    },
  },
  'convertto-securestring': {
    params: ['String'],
    positional: ['String'],
    switches: ['AsPlainText'],
    run: (a) => {
      if (!a.flag('AsPlainText')) {
        throw new PsError('Input string was not in a correct format.', {
          category: 'InvalidArgument',
          reason: 'FormatException',
          fqid: 'ImportSecureString_InvalidArgument,Microsoft.PowerShell.Commands.ConvertToSecureStringCommand',
          target: '',
        });
      }
      return [new SecureString(a.str('String') ?? '')];
    },
  },
  'convertto-json': {
    params: ['InputObject', 'Depth'],
    positional: ['InputObject'],
    switches: ['Compress'],
    run: (a, c) => {
      const v = a.has('InputObject')
        ? a.get('InputObject')
        : c.input && c.input.length === 1
          ? c.input[0]
          : (c.input ?? null);
      return [JSON.stringify(psJson(v), null, a.flag('Compress') ? undefined : 4)];
    },
  },
  'new-localuser': {
    params: ['Name', 'Password', 'Description', 'FullName'],
    switches: ['PasswordNeverExpires', 'AccountNeverExpires', 'NoPassword'],
    run: async (a, c) => {
      const name = required(a, 'Name', 'new-localuser');
      const pw = a.get('Password');
      if (!(pw instanceof SecureString)) {
        throw new PsError(
          `Cannot bind parameter 'Password'. Cannot convert the "${toStr(pw)}" value of type "System.String" to type "System.Security.SecureString".`,
          {
            category: 'InvalidArgument',
            reason: 'ParameterBindingException',
            fqid: 'CannotConvertArgumentNoMessage,Microsoft.PowerShell.Commands.NewLocalUserCommand',
            target: '',
          },
        );
      }
      const r = c.m.addUser(name, pw.plain);
      const cls = 'Microsoft.PowerShell.Commands.NewLocalUserCommand';
      if (r === 'exists')
        throw new PsError(`User ${name} already exists.`, {
          category: 'ResourceExists',
          reason: 'UserExistsException',
          fqid: `UserExists,${cls}`,
          target: `${name}:String`,
        });
      if (r === 'policy') {
        throw new PsError(
          'The password does not meet the password policy requirements. Check the minimum password length, password complexity and password history requirements.',
          {
            category: 'InvalidOperation',
            reason: 'InvalidPasswordException',
            fqid: `InvalidPassword,${cls}`,
            target: `${name}:String`,
          },
        );
      }
      if (r === 'invalid-name')
        throw new PsError(`The name ${name} is not a valid user name.`, {
          category: 'InvalidArgument',
          reason: 'InvalidNameException',
          fqid: `InvalidName,${cls}`,
          target: `${name}:String`,
        });
      const u = c.m.findUser(name)!;
      u.passwordNeverExpires = a.flag('PasswordNeverExpires');
      await persist(c);
      return [{ __type: 'LocalUser', Name: u.name, Enabled: true, Description: a.str('Description') ?? '' }];
    },
  },
  'get-localuser': {
    params: ['Name'],
    positional: ['Name'],
    run: (a, c) => {
      const name = a.str('Name');
      const users = Object.values(c.m.state.users).filter((u) => !name || u.name.toLowerCase() === name.toLowerCase());
      if (name && users.length === 0) {
        throw new PsError(`User ${name} was not found.`, {
          category: 'ObjectNotFound',
          reason: 'UserNotFoundException',
          fqid: 'UserNotFound,Microsoft.PowerShell.Commands.GetLocalUserCommand',
          target: `${name}:String`,
        });
      }
      return users.map((u) => ({
        __type: 'LocalUser',
        Name: u.name,
        Enabled: u.enabled,
        SID: `S-1-5-21-1004336348-1177238915-682003330-${u.rid}`,
      }));
    },
  },
  'set-localuser': {
    params: ['Name', 'Password', 'PasswordNeverExpires'],
    positional: ['Name'],
    run: async (a, c) => {
      const name = required(a, 'Name', 'set-localuser');
      const u = c.m.findUser(name);
      if (!u)
        throw new PsError(`User ${name} was not found.`, {
          category: 'ObjectNotFound',
          reason: 'UserNotFoundException',
          fqid: 'UserNotFound,Microsoft.PowerShell.Commands.SetLocalUserCommand',
          target: `${name}:String`,
        });
      if (a.has('PasswordNeverExpires')) u.passwordNeverExpires = truthy(a.get('PasswordNeverExpires'));
      const pw = a.get('Password');
      if (pw instanceof SecureString) {
        if (c.m.env.faults.take('password-policy') || !WindowsMachine.meetsPolicy(u.name, pw.plain)) {
          throw new PsError(
            'The password does not meet the password policy requirements. Check the minimum password length, password complexity and password history requirements.',
            {
              category: 'InvalidOperation',
              reason: 'InvalidPasswordException',
              fqid: 'InvalidPassword,Microsoft.PowerShell.Commands.SetLocalUserCommand',
              target: `${u.name}:String`,
            },
          );
        }
        Object.assign(u, credentials(pw.plain));
      }
      await persist(c);
      return [];
    },
  },
  'get-localgroup': {
    params: ['Name', 'SID'],
    positional: ['Name'],
    run: (a, c) => {
      const id = a.str('SID') ?? a.str('Name');
      const g = id ? c.m.findGroup(id) : undefined;
      if (!g)
        throw new PsError(`Group ${id ?? ''} was not found.`, {
          category: 'ObjectNotFound',
          reason: 'GroupNotFoundException',
          fqid: 'GroupNotFound,Microsoft.PowerShell.Commands.GetLocalGroupCommand',
          target: `${id}:String`,
        });
      return [{ __type: 'LocalGroup', Name: g.key.replace(/\b\w/g, (x) => x.toUpperCase()), SID: g.sid }];
    },
  },
  'get-localgroupmember': {
    params: ['Group', 'SID', 'Name'],
    positional: ['Group'],
    run: (a, c) => {
      const id = a.str('SID') ?? a.str('Group') ?? ADMINISTRATORS_SID;
      const g = c.m.findGroup(id);
      if (!g)
        throw new PsError(`Group ${id} was not found.`, {
          category: 'ObjectNotFound',
          reason: 'GroupNotFoundException',
          fqid: 'GroupNotFound,Microsoft.PowerShell.Commands.GetLocalGroupMemberCommand',
          target: `${id}:String`,
        });
      return g.members.map((m) => ({
        __type: 'LocalPrincipal',
        ObjectClass: 'User',
        Name: `${c.m.state.computerName}\\${m}`,
        PrincipalSource: 'Local',
      }));
    },
  },
  'add-localgroupmember': {
    params: ['Group', 'SID', 'Name', 'Member'],
    positional: ['Group', 'Member'],
    run: async (a, c) => {
      const id = a.str('SID') ?? a.str('Group') ?? a.str('Name') ?? '';
      const cls = 'Microsoft.PowerShell.Commands.AddLocalGroupMemberCommand';
      for (const member of list(a.get('Member'))) {
        const r = c.m.addGroupMember(id, member);
        const g = c.m.findGroup(id);
        if (r === 'no-group')
          throw new PsError(`Group ${id} was not found.`, {
            category: 'ObjectNotFound',
            reason: 'GroupNotFoundException',
            fqid: `GroupNotFound,${cls}`,
            target: `${id}:String`,
          });
        if (r === 'no-user')
          throw new PsError(`Principal ${member} was not found.`, {
            category: 'ObjectNotFound',
            reason: 'PrincipalNotFoundException',
            fqid: `PrincipalNotFound,${cls}`,
            target: `${member}:String`,
          });
        if (r === 'already') {
          throw new PsError(
            `${c.m.state.computerName}\\${member} is already a member of group ${g?.key.replace(/\b\w/g, (x) => x.toUpperCase())}.`,
            {
              category: 'ResourceExists',
              reason: 'MemberExistsException',
              fqid: `MemberExists,${cls}`,
              target: `${member}:String`,
            },
          );
        }
      }
      await persist(c);
      return [];
    },
  },
  'test-path': {
    params: ['Path', 'LiteralPath', 'PathType'],
    positional: ['Path'],
    run: (a, c) => {
      const p = a.str('LiteralPath') ?? a.str('Path') ?? '';
      const reg = regPath(p);
      if (reg) return [c.m.regKeyExists(reg)];
      const type = a.str('PathType')?.toLowerCase();
      if (type === 'leaf') return [c.m.isFile(p)];
      if (type === 'container') return [c.m.dirExists(p)];
      return [c.m.fileExists(p)];
    },
  },
  'get-itemproperty': {
    params: ['Path', 'Name'],
    positional: ['Path', 'Name'],
    run: (a, c) => {
      const p = a.str('Path') ?? '';
      const key = regPath(p);
      if (!key || !c.m.regKeyExists(key)) throw notFoundPath(p, 'get-itemproperty');
      const values = c.m.regValues(key) ?? {};
      const name = a.str('Name');
      const obj: PsObject = { __type: 'System.Management.Automation.PSCustomObject' };
      for (const [n, v] of Object.entries(values)) if (!name || n.toLowerCase() === name.toLowerCase()) obj[n] = v.data;
      if (name && Object.keys(obj).length === 1) {
        throw new PsError(`Property ${name} does not exist at path ${p}.`, {
          category: 'InvalidArgument',
          reason: 'PSArgumentException',
          fqid: 'System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand',
          target: name,
        });
      }
      return [obj];
    },
  },
  'get-itempropertyvalue': {
    params: ['Path', 'Name'],
    positional: ['Path', 'Name'],
    run: (a, c) => {
      const p = a.str('Path') ?? '';
      const key = regPath(p);
      if (!key || !c.m.regKeyExists(key)) throw notFoundPath(p, 'get-itempropertyvalue');
      const name = a.str('Name') ?? '';
      const v = c.m.regGet(key, name);
      if (!v)
        throw new PsError(`Property ${name} does not exist at path ${p}.`, {
          category: 'InvalidArgument',
          reason: 'PSArgumentException',
          fqid: 'System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyValueCommand',
          target: name,
        });
      return [v.data];
    },
  },
  'set-itemproperty': {
    params: ['Path', 'Name', 'Value', 'Type'],
    positional: ['Path', 'Name', 'Value'],
    run: async (a, c) => setProperty(a, c, 'set-itemproperty', a.str('Type')),
  },
  'new-itemproperty': {
    params: ['Path', 'Name', 'Value', 'PropertyType'],
    positional: ['Path', 'Name', 'Value'],
    run: async (a, c) => setProperty(a, c, 'new-itemproperty', a.str('PropertyType')),
  },
  'new-item': {
    params: ['Path', 'ItemType', 'Value', 'Name', 'Transport', 'Address', 'CertificateThumbprint', 'HostName', 'Port'],
    positional: ['Path'],
    run: async (a, c) => {
      const p = a.str('Path') ?? '';
      if (/^WSMan:\\localhost\\Listener/i.test(p)) {
        const transport = (a.str('Transport') ?? '').toUpperCase();
        if (transport === 'HTTPS') {
          const thumb = (a.str('CertificateThumbprint') ?? '').toUpperCase();
          if (!c.m.state.certificates[thumb]) {
            throw new PsError(
              'The WinRM client cannot process the request. The certificate thumbprint is not valid or not found in the local machine certificate store.',
              {
                category: 'InvalidOperation',
                reason: 'InvalidOperationException',
                fqid: 'WsManError,Microsoft.WSMan.Management.NewItemCommand',
                target: '',
              },
            );
          }
          c.m.state.winrm.httpsThumbprint = thumb;
        } else if (transport === 'HTTP') c.m.state.winrm.http = true;
        else
          throw new PsError(`Invalid transport ${transport}.`, {
            category: 'InvalidArgument',
            reason: 'ArgumentException',
            fqid: 'WsManError,Microsoft.WSMan.Management.NewItemCommand',
            target: '',
          });
        await persist(c);
        return [
          {
            __type: 'WSManConfigContainerElement',
            Name: `Listener_${transport}`,
            Type: 'Container',
            Keys: `{Transport=${transport}, Address=*}`,
          },
        ];
      }
      const key = regPath(p);
      if (key) {
        c.m.regCreateKey(key);
        await persist(c);
        return [];
      }
      if ((a.str('ItemType') ?? 'File').toLowerCase() === 'directory') c.m.mkdir(p);
      else if (!c.m.writeFile(p, a.str('Value') ?? '')) throw notFoundPath(p, 'new-item');
      await persist(c);
      return [];
    },
  },
  'set-item': {
    params: ['Path', 'Value'],
    positional: ['Path', 'Value'],
    run: async (a, c) => {
      const p = (a.str('Path') ?? '').toLowerCase().replace(/^wsman:\\localhost\\/, '');
      const v = truthy(a.get('Value')) && a.str('Value')?.toLowerCase() !== 'false';
      if (p === 'service\\auth\\basic') c.m.state.winrm.basic = v;
      else if (p === 'service\\allowunencrypted') c.m.state.winrm.allowUnencrypted = v;
      else if (p === 'maxtimeoutms' || p.startsWith('shell\\')) {
        /* accepted: limits the simulation does not model */
      } else throw notFoundPath(a.str('Path') ?? '', 'set-item');
      await persist(c);
      return [];
    },
  },
  'remove-item': {
    params: ['Path', 'LiteralPath'],
    positional: ['Path'],
    switches: ['Recurse', 'Force'],
    run: async (a, c) => {
      for (const p of list(a.get('LiteralPath') ?? a.get('Path'))) {
        const n = WindowsMachine.normalize(p);
        if (n.endsWith('*')) {
          const dir = n.slice(0, n.lastIndexOf('\\'));
          const re = new RegExp(
            '^' +
              n
                .slice(n.lastIndexOf('\\') + 1)
                .replace(/[.+^${}()|[\]]/g, '\\$&')
                .replace(/\*/g, '.*') +
              '$',
            'i',
          );
          for (const name of c.m.listDir(dir)) if (re.test(name)) c.m.deleteFile(`${dir}\\${name}`);
        } else if (!c.m.deleteFile(n)) {
          if (!c.m.dirExists(n)) throw notFoundPath(p, 'remove-item');
          // -Recurse takes the whole tree; without it only the folder's files (the lab asks no confirmation).
          const lower = n.toLowerCase();
          const inside = (x: string): boolean =>
            a.flag('Recurse')
              ? x.startsWith(lower + '\\')
              : x.lastIndexOf('\\') === lower.length && x.startsWith(lower);
          for (const key of Object.keys(c.m.state.files)) if (inside(key)) c.m.deleteFile(key);
          c.m.state.dirs = c.m.state.dirs.filter((d) => d.toLowerCase() !== lower && !inside(d.toLowerCase()));
        }
      }
      await persist(c);
      return [];
    },
  },
  'get-childitem': {
    params: ['Path', 'LiteralPath', 'Filter'],
    positional: ['Path', 'Filter'],
    switches: ['Force'],
    run: (a, c) => {
      const p = a.str('LiteralPath') ?? a.str('Path') ?? 'C:\\Windows\\system32';
      const n = WindowsMachine.normalize(p);
      if (!c.m.dirExists(n)) throw notFoundPath(p, 'get-childitem');
      const filter = a.str('Filter');
      const re = filter
        ? new RegExp(
            '^' +
              filter
                .replace(/[.+^${}()|[\]]/g, '\\$&')
                .replace(/\*/g, '.*')
                .replace(/\?/g, '.') +
              '$',
            'i',
          )
        : undefined;
      const base = n.replace(/\\$/, '');
      return c.m
        .listDir(n)
        .filter((name) => !re || re.test(name))
        .map((name) => {
          const full = `${base}\\${name}`;
          const file = c.m.isFile(full);
          return {
            __type: file ? 'System.IO.FileInfo' : 'System.IO.DirectoryInfo',
            Name: name,
            FullName: full,
            PSIsContainer: !file,
            ...(file ? { Length: c.m.readFile(full)?.length ?? 0 } : {}),
          };
        });
    },
  },
  'get-content': {
    params: ['Path', 'LiteralPath', 'Tail', 'TotalCount', 'Encoding'],
    positional: ['Path'],
    switches: ['Raw'],
    run: (a, c) => {
      const p = a.str('LiteralPath') ?? a.str('Path') ?? '';
      const data = c.m.readFile(p);
      if (!data) throw notFoundPath(p, 'get-content');
      const enc = encodingArg(a, 'get-content', new PsEncoding('cp1252'));
      if (enc === 'byte') return a.flag('Raw') ? [[...data]] : [...data];
      const text = readText(data, a.has('Encoding') ? enc : undefined);
      if (a.flag('Raw')) return [text];
      let lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
      if (text === '') lines = [];
      if (a.has('Tail')) lines = lines.slice(-Number(a.get('Tail')));
      if (a.has('TotalCount')) lines = lines.slice(0, Number(a.get('TotalCount')));
      return lines;
    },
  },
  'set-content': {
    params: ['Path', 'Value', 'Encoding'],
    positional: ['Path', 'Value'],
    switches: ['NoNewline'],
    run: async (a, c) => writeContent(a, c, false),
  },
  'add-content': {
    params: ['Path', 'Value', 'Encoding'],
    positional: ['Path', 'Value'],
    switches: ['NoNewline'],
    run: async (a, c) => writeContent(a, c, true),
  },
  'copy-item': {
    params: ['Path', 'Destination', 'LiteralPath'],
    positional: ['Path', 'Destination'],
    run: async (a, c) => {
      const src = a.str('LiteralPath') ?? a.str('Path') ?? '';
      const data = c.m.readFile(src);
      if (!data) throw notFoundPath(src, 'copy-item');
      let dst = a.str('Destination') ?? '';
      if (c.m.dirExists(dst))
        dst = `${WindowsMachine.normalize(dst)}\\${nodePath.win32.basename(WindowsMachine.normalize(src))}`;
      if (!c.m.writeFile(dst, data)) throw notFoundPath(dst, 'copy-item');
      await persist(c);
      return [];
    },
  },
  'get-service': {
    params: ['Name'],
    positional: ['Name'],
    run: (a, c) => {
      const names = list(a.get('Name'));
      if (names.length === 0) return Object.values(c.m.state.services).map(serviceObject);
      return names.map((n) => serviceObject(service(c, n, 'get-service')));
    },
  },
  'set-service': {
    params: ['Name', 'StartupType', 'Status'],
    positional: ['Name'],
    run: async (a, c) => {
      const s = service(c, a.str('Name') ?? '', 'set-service');
      const t = a.str('StartupType')?.toLowerCase();
      if (t) s.startType = t === 'automatic' ? 'AUTO_START' : t === 'manual' ? 'DEMAND_START' : 'DISABLED';
      if (a.str('Status')) s.running = a.str('Status')!.toLowerCase() === 'running';
      await persist(c);
      return [];
    },
  },
  'start-service': {
    params: ['Name'],
    positional: ['Name'],
    run: async (a, c) => serviceState(a, c, 'start-service', true),
  },
  'stop-service': {
    params: ['Name'],
    positional: ['Name'],
    run: async (a, c) => serviceState(a, c, 'stop-service', false),
  },
  'restart-service': {
    params: ['Name'],
    positional: ['Name'],
    run: async (a, c) => serviceState(a, c, 'restart-service', true),
  },
  'get-volume': {
    params: ['FileSystemLabel', 'DriveLetter'],
    run: (a, c) => {
      const label = a.str('FileSystemLabel');
      const letter = a.str('DriveLetter');
      const drives = c.m.env
        .cdDrives()
        .filter(
          (d) =>
            (!label || d.label.toLowerCase() === label.toLowerCase()) && (!letter || d.letter === letter.toUpperCase()),
        );
      if (drives.length === 0 && (label || letter)) {
        const [prop, value] = label ? ['FileSystemLabel', label] : ['DriveLetter', letter!];
        throw new PsError(
          `No MSFT_Volume objects found with property '${prop}' equal to '${value}'.  Verify the value of the property and retry.`,
          {
            category: 'ObjectNotFound',
            reason: 'CimJobException',
            fqid: `CmdletizationQuery_NotFound_${prop},Get-Volume`,
            target: `${value}:String`,
          },
        );
      }
      return drives.map((d) => ({
        __type: 'MSFT_Volume',
        DriveLetter: d.letter,
        FileSystemLabel: d.label,
        DriveType: 'CD-ROM',
        FileSystem: 'UDF',
      }));
    },
  },
  'start-process': {
    params: ['FilePath', 'ArgumentList', 'WorkingDirectory', 'RedirectStandardOutput'],
    positional: ['FilePath', 'ArgumentList'],
    switches: ['Wait', 'PassThru', 'NoNewWindow'],
    run: async (a, c) => {
      const file = required(a, 'FilePath', 'start-process');
      const argList = a.get('ArgumentList');
      const args = Array.isArray(argList)
        ? argList.map(toStr).flatMap((x) => splitArgs(x))
        : splitArgs(toStr(argList ?? ''));
      if (!a.flag('Wait')) {
        const p = spawnDetached(c.m, [quoteArg(file), ...args.map(quoteArg)].join(' '), c.io.user);
        return a.flag('PassThru')
          ? [{ __type: 'System.Diagnostics.Process', Id: p.pid, HasExited: false, ExitCode: null }]
          : [];
      }
      const sink: string[] = [];
      const io = { ...c.io, out: (s: string) => void sink.push(s), err: (s: string) => void sink.push(s) };
      const code = await runProgram(c.m, file, args, io, new Cmd(c.m, io));
      if (code === 9009) {
        throw new PsError('This command cannot be run due to the error: The system cannot find the file specified.', {
          category: 'InvalidOperation',
          reason: 'InvalidOperationException',
          fqid: 'InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand',
          target: '',
        });
      }
      return a.flag('PassThru')
        ? [{ __type: 'System.Diagnostics.Process', Id: 4242, HasExited: true, ExitCode: code }]
        : [];
    },
  },
  'invoke-cimmethod': {
    params: ['ClassName', 'MethodName', 'Arguments'],
    positional: ['ClassName', 'MethodName'],
    run: (a, c) => {
      if (
        (a.str('ClassName') ?? '').toLowerCase() !== 'win32_process' ||
        (a.str('MethodName') ?? '').toLowerCase() !== 'create'
      ) {
        throw new PsError('Invalid class or method', {
          category: 'InvalidArgument',
          reason: 'CimException',
          fqid: 'HRESULT 0x80041002,Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand',
          target: '',
        });
      }
      const line = toStr(
        (a.get('Arguments') as PsObject | undefined)?.CommandLine ??
          Object.entries((a.get('Arguments') as PsObject) ?? {}).find(([k]) => k.toLowerCase() === 'commandline')?.[1],
      );
      const p = spawnDetached(c.m, line, c.io.user);
      return [{ __type: 'Microsoft.Management.Infrastructure.CimMethodResult', ProcessId: p.pid, ReturnValue: 0 }];
    },
  },
  'invoke-wmimethod': {
    params: ['Class', 'Name', 'ArgumentList'],
    positional: ['Class', 'Name'],
    run: (a, c) => {
      if (
        (a.str('Class') ?? '').toLowerCase() !== 'win32_process' ||
        (a.str('Name') ?? '').toLowerCase() !== 'create'
      ) {
        throw new PsError('Invalid class', {
          category: 'InvalidOperation',
          reason: 'ManagementException',
          fqid: 'InvokeWMIManagementException,Microsoft.PowerShell.Commands.InvokeWmiMethod',
          target: '',
        });
      }
      const p = spawnDetached(c.m, list(a.get('ArgumentList'))[0] ?? '', c.io.user);
      return [{ __type: 'System.Management.ManagementBaseObject', ProcessId: p.pid, ReturnValue: 0 }];
    },
  },
  'get-process': {
    params: ['Name'],
    positional: ['Name'],
    run: (a, c) => {
      const name = a.str('Name')?.toLowerCase();
      const procs = [...c.m.processes].filter(
        (p) => !name || p.image.replace(/\.exe$/, '') === name.replace(/\.exe$/, ''),
      );
      if (name && procs.length === 0) {
        throw new PsError(
          `Cannot find a process with the name "${a.str('Name')}". Verify the process name and call the cmdlet again.`,
          {
            category: 'ObjectNotFound',
            reason: 'ProcessCommandException',
            fqid: 'NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand',
            target: `${a.str('Name')}:String`,
          },
        );
      }
      return procs.map((p) => ({
        __type: 'System.Diagnostics.Process',
        Id: p.pid,
        ProcessName: p.image.replace(/\.exe$/, ''),
      }));
    },
  },
  'stop-process': {
    params: ['Name', 'Id'],
    positional: ['Id'],
    run: (a, c) => {
      const name = a
        .str('Name')
        ?.toLowerCase()
        .replace(/\.exe$/, '');
      for (const p of [...c.m.processes]) {
        if ((name && p.image.replace(/\.exe$/, '') === name) || (a.has('Id') && Number(a.get('Id')) === p.pid)) {
          p.terminate();
          c.m.processes.delete(p);
        }
      }
      return [];
    },
  },
  'import-pfxcertificate': {
    params: ['FilePath', 'CertStoreLocation', 'Password'],
    positional: ['FilePath'],
    switches: ['Exportable'],
    run: async (a, c) => {
      const file = required(a, 'FilePath', 'import-pfxcertificate');
      const data = c.m.readFile(file);
      if (!data) throw notFoundPath(file, 'import-pfxcertificate');
      const pw = a.get('Password');
      const passphrase = pw instanceof SecureString ? pw.plain : '';
      let pem: string;
      try {
        // Reads the PKCS#12 the way Windows' certificate store would, with the real parser (openssl).
        pem = execFileSync('openssl', ['pkcs12', '-nokeys', '-clcerts', '-passin', 'env:PFX_PASS'], {
          input: data,
          env: { ...process.env, PFX_PASS: passphrase },
          stdio: ['pipe', 'pipe', 'pipe'],
        }).toString();
      } catch {
        throw new PsError(
          'The PFX file you are trying to import requires either a different password or membership in an Active Directory principal to which it is protected.',
          {
            category: 'NotSpecified',
            reason: 'Win32Exception',
            fqid: 'System.ComponentModel.Win32Exception,Microsoft.CertificateServices.Commands.ImportPfxCertificate',
            target: '',
          },
        );
      }
      const cert = new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----')));
      const thumb = cert.fingerprint.replace(/:/g, '').toUpperCase();
      c.m.state.certificates[thumb] = {
        pfx: data.toString('base64'),
        passphrase,
        subject: cert.subject.replace(/\n/g, ', '),
      };
      await persist(c);
      return [
        {
          __type: 'System.Security.Cryptography.X509Certificates.X509Certificate2',
          Thumbprint: thumb,
          Subject: cert.subject.replace(/\n/g, ', '),
        },
      ];
    },
  },
  'enable-psremoting': {
    params: [],
    switches: ['SkipNetworkProfileCheck'],
    run: async (_a, c) => {
      const s = c.m.service('winrm')!;
      s.startType = 'AUTO_START';
      s.running = true;
      c.m.state.winrm.http = true;
      if (!c.m.state.winrm.firewall.includes(5985)) c.m.state.winrm.firewall.push(5985);
      recordFirewallRule(c.m, {
        id: 'WINRM-HTTP-In-TCP',
        displayName: 'Windows Remote Management (HTTP-In)',
        ports: [5985],
      });
      await persist(c);
      return [];
    },
  },
  'set-netconnectionprofile': { params: ['NetworkCategory', 'InterfaceAlias', 'InterfaceIndex'], run: () => [] },
  'new-netfirewallrule': {
    params: ['DisplayName', 'Name', 'Direction', 'LocalPort', 'Protocol', 'Action', 'Profile'],
    run: async (a, c) => {
      if (
        (a.str('Action') ?? 'Allow').toLowerCase() === 'allow' &&
        (a.str('Direction') ?? 'Inbound').toLowerCase() === 'inbound'
      ) {
        for (const p of list(a.get('LocalPort')))
          if (!c.m.state.winrm.firewall.includes(Number(p))) c.m.state.winrm.firewall.push(Number(p));
        recordFirewallRule(c.m, {
          id: a.str('Name'),
          displayName: a.str('DisplayName') ?? a.str('Name') ?? '',
          ports: list(a.get('LocalPort')).map(Number),
        });
      }
      await persist(c);
      return [{ __type: 'NetFirewallRule', DisplayName: a.str('DisplayName') ?? '', Enabled: 'True' }];
    },
  },
  'get-appxpackage': {
    params: ['Name'],
    positional: ['Name'],
    switches: ['AllUsers'],
    run: (a, c) => {
      const name = a.str('Name');
      return c.m.state.appx
        .filter(
          (p) =>
            !name ||
            new RegExp('^' + name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$', 'i').test(
              p.fullName.split('_')[0]!,
            ),
        )
        .map((p) => ({
          __type: 'Microsoft.Windows.Appx.PackageManager.Commands.AppxPackage',
          Name: p.fullName.split('_')[0],
          PackageFullName: p.fullName,
        }));
    },
  },
  'remove-appxpackage': {
    params: ['Package'],
    positional: ['Package'],
    switches: ['AllUsers'],
    run: async (a, c) => {
      const full = a.str('Package') ?? '';
      const before = c.m.state.appx.length;
      c.m.state.appx = c.m.state.appx.filter((p) => p.fullName.toLowerCase() !== full.toLowerCase());
      if (c.m.state.appx.length === before) {
        throw new PsError(`Deployment failed with HRESULT: 0x80073CF1, Package was not found.`, {
          category: 'ObjectNotFound',
          reason: 'IOException',
          fqid: 'RemovePackageFailed,Microsoft.Windows.Appx.PackageManager.Commands.RemoveAppxPackageCommand',
          target: full,
        });
      }
      await persist(c);
      return [];
    },
  },
  'restart-computer': {
    params: [],
    run: (_a, c) => {
      setTimeout(() => void c.m.env.reboot(), c.m.env.scaled(2000)).unref();
      return [];
    },
  },
  'stop-computer': {
    params: [],
    run: (_a, c) => {
      setTimeout(() => void c.m.env.shutdown(), c.m.env.scaled(2000)).unref();
      return [];
    },
  },
};

async function setProperty(a: BoundArgs, c: CmdletContext, key: string, type: string | undefined): Promise<unknown[]> {
  const p = a.str('Path') ?? '';
  const reg = regPath(p);
  if (!reg) throw notFoundPath(p, key);
  if (key === 'set-itemproperty' && !c.m.regKeyExists(reg)) throw notFoundPath(p, key);
  c.m.regCreateKey(reg);
  const name = required(a, 'Name', key);
  const value = a.get('Value');
  const t = (type ?? (typeof value === 'number' ? 'DWord' : 'String')).toLowerCase();
  if (t === 'dword' || t === 'qword')
    c.m.regSet(reg, name, { type: t === 'dword' ? 'REG_DWORD' : 'REG_QWORD', data: Number(toStr(value)) });
  else c.m.regSet(reg, name, { type: t === 'expandstring' ? 'REG_EXPAND_SZ' : 'REG_SZ', data: toStr(value) });
  await persist(c);
  return [];
}

/** `-Encoding` of the file cmdlets; unknown names fail parameter binding as on Windows. */
function encodingArg(a: BoundArgs, key: string, fallback: PsEncoding): PsEncoding | 'byte' {
  const enc = fileEncoding(a.str('Encoding'), fallback);
  if (enc === undefined)
    throw new PsError(
      `Cannot bind parameter 'Encoding'. Cannot convert value "${a.str('Encoding')}" to type "Microsoft.PowerShell.Commands.FileSystemCmdletProviderEncoding". Error: "Unable to match the identifier name ${a.str('Encoding')} to a valid enumerator name. Specify one of the following enumerator names and try again:\r\nUnknown, String, Unicode, Byte, BigEndianUnicode, UTF8, UTF7, UTF32, Ascii, Default, Oem, BigEndianUTF32"`,
      {
        category: 'InvalidArgument',
        reason: 'ParameterBindingException',
        fqid: `CannotConvertArgumentNoMessage,${commandClass(key)}`,
        target: '',
      },
    );
  return enc;
}

async function writeContent(a: BoundArgs, c: CmdletContext, append: boolean): Promise<unknown[]> {
  const p = a.str('Path') ?? '';
  const value = a.has('Value') ? a.get('Value') : (c.input ?? []);
  // Windows PowerShell 5.1 writes the ANSI code page unless told otherwise (docs/lab.md, PowerShell).
  const enc = encodingArg(a, append ? 'add-content' : 'set-content', new PsEncoding('cp1252'));
  const items = Array.isArray(value) ? value : value === null || value === undefined ? [] : [value];
  let data: Buffer;
  if (enc === 'byte') data = Buffer.from(items.map((x) => Number(x) & 0xff));
  else {
    const text = items.map(toStr).join(a.flag('NoNewline') ? '' : CRLF) + (a.flag('NoNewline') ? '' : CRLF);
    const bom = append && c.m.isFile(p) ? Buffer.alloc(0) : enc.preamble();
    data = Buffer.concat([bom, enc.encode(text)]);
  }
  if (!c.m.writeFile(p, data, append)) {
    throw new PsError(`Could not find a part of the path '${WindowsMachine.normalize(p)}'.`, {
      category: 'ObjectNotFound',
      reason: 'DirectoryNotFoundException',
      fqid: `GetContentWriterDirectoryNotFoundError,${commandClass(append ? 'add-content' : 'set-content')}`,
      target: p,
    });
  }
  await persist(c);
  return [];
}

async function serviceState(a: BoundArgs, c: CmdletContext, key: string, running: boolean): Promise<unknown[]> {
  const s = service(c, a.str('Name') ?? '', key);
  if (running && s.startType === 'DISABLED') {
    throw new PsError(
      `Service '${s.displayName} (${s.name})' cannot be started due to the following error: Cannot start service ${s.name} on computer '.'.`,
      {
        category: 'OpenError',
        reason: 'ServiceCommandException',
        fqid: `CouldNotStartService,${commandClass(key)}`,
        target: '',
      },
    );
  }
  s.running = running;
  await persist(c);
  return [];
}
