// The programs the simulated cmd.exe and PowerShell start by image name: hostname, whoami, ipconfig, net, reg,
// sc, msiexec, sysprep, shutdown, tasklist, taskkill, netsh, findstr, timeout/ping, batch files, and those
// registered in io.ts (powershell.exe), with Windows' messages and exit codes. Anything else is "not
// recognized" (9009), as on Windows.
import nodePath from 'node:path';
import { findstr } from './findstr.js';
import { registeredProgram, type BatchRunner, type Io } from './io.js';
import { WindowsMachine } from './machine.js';
import { GuestProcess, sleep } from './process.js';
import { recordFirewallRule } from './windows/firewall.js';

const CRLF = '\r\n';

const NET_MSG = (text: string, n?: number): string =>
  `${text}${CRLF}${CRLF}${n !== undefined ? `More help is available by typing NET HELPMSG ${n}.${CRLF}${CRLF}` : ''}`;

/** External programs by image name. */
export async function runProgram(
  m: WindowsMachine,
  exe: string,
  args: string[],
  io: Io,
  cmd: BatchRunner,
): Promise<number> {
  const base = nodePath.win32.basename(exe).toLowerCase();
  const name = base.replace(/\.(exe|com)$/, '');
  const lower = args.map((a) => a.toLowerCase());
  if (/\.(cmd|bat)$/.test(base)) {
    const text = m.readFile(exe);
    if (!text) return notRecognized(exe, io);
    return cmd.script(text.toString('utf8'));
  }
  switch (name) {
    case 'hostname':
      io.out(m.state.computerName + CRLF);
      return 0;
    case 'whoami':
      io.out(`${m.state.computerName.toLowerCase()}\\${io.user.toLowerCase()}${CRLF}`);
      return 0;
    case 'ipconfig':
      io.out(
        `${CRLF}Windows IP Configuration${CRLF}${CRLF}Ethernet adapter Ethernet:${CRLF}${CRLF}   IPv4 Address. . . . . . . . . . . : ${io.vars.XENIMAGE_ADDRESS ?? '127.0.0.1'}${CRLF}`,
      );
      return 0;
    case 'net':
      return net(m, args, io);
    case 'reg':
      return reg(m, args, io);
    case 'sc':
      return sc(m, args, io);
    case 'msiexec':
    case 'sysprep': {
      // Its own process (tasklist, Get-Process, taskkill see it), ended with its parent.
      const child = new GuestProcess(`${name}.exe`, [exe, ...args].join(' '));
      m.processes.add(child);
      const onAbort = (): void => child.terminate();
      io.proc.signal.addEventListener('abort', onAbort, { once: true });
      try {
        return name === 'msiexec' ? await m.msiexec(args, child) : await m.sysprep(args, child);
      } finally {
        io.proc.signal.removeEventListener('abort', onAbort);
        m.processes.delete(child);
      }
    }
    case 'shutdown': {
      if (lower.includes('/a')) return 0;
      const t = Number(args[lower.indexOf('/t') + 1] ?? '30');
      const action = lower.includes('/r') ? 'reboot' : lower.includes('/s') || lower.includes('/p') ? 'shutdown' : null;
      if (!action) {
        io.err(
          `Usage: shutdown [/i | /l | /s | /sg | /r | /g | /a | /p | /h | /e | /o] [/hybrid] [/soft] [/fw] [/f]${CRLF}`,
        );
        return 1;
      }
      setTimeout(
        () => void (action === 'reboot' ? m.env.reboot() : m.env.shutdown()),
        m.env.scaled(Math.max(1, t) * 1000),
      ).unref();
      return 0;
    }
    case 'tasklist':
      return tasklist(m, args, io);
    case 'taskkill': {
      const im = args[lower.indexOf('/im') + 1];
      const hits = [...m.processes].filter((p) => im && p.image === im.toLowerCase());
      if (!im || hits.length === 0) {
        io.err(`ERROR: The process "${im ?? ''}" not found.${CRLF}`);
        return 128;
      }
      for (const p of hits) {
        p.terminate();
        m.processes.delete(p);
        io.out(`SUCCESS: The process "${p.image}" with PID ${p.pid} has been terminated.${CRLF}`);
      }
      return 0;
    }
    case 'netsh': {
      // netsh advfirewall firewall add rule name=… dir=in action=allow protocol=TCP localport=N
      const kv = Object.fromEntries(
        args
          .filter((a) => a.includes('='))
          .map((a) => [a.slice(0, a.indexOf('=')).toLowerCase(), a.slice(a.indexOf('=') + 1)]),
      );
      if (lower.slice(0, 4).join(' ') !== 'advfirewall firewall add rule' || !kv.name || !kv.dir) {
        io.out(`The following command was not found: ${args.join(' ')}.${CRLF}`);
        return 1;
      }
      if (kv.dir.toLowerCase() === 'in' && (kv.action ?? '').toLowerCase() === 'allow') {
        const ports = (kv.localport ?? '')
          .split(',')
          .map(Number)
          .filter((n) => n > 0);
        for (const p of ports) if (!m.state.winrm.firewall.includes(p)) m.state.winrm.firewall.push(p);
        recordFirewallRule(m, { displayName: kv.name, ports });
      }
      await m.env.persist();
      io.out(`Ok.${CRLF}${CRLF}`);
      return 0;
    }
    case 'findstr':
      return findstr(m, args, io);
    case 'timeout':
    case 'ping': {
      const n = Number(args.find((a) => /^\d+$/.test(a)) ?? '1');
      await sleep(m.env.scaled(n * 1000), io.proc.signal);
      return 0;
    }
    default: {
      const program = registeredProgram(name);
      return program ? program(m, args, io) : notRecognized(exe, io);
    }
  }
}

function notRecognized(exe: string, io: Io): number {
  io.err(`'${exe}' is not recognized as an internal or external command,${CRLF}operable program or batch file.${CRLF}`);
  return 9009;
}

async function net(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const sub = args[0]?.toLowerCase();
  const flags = args.filter((a) => a.startsWith('/')).map((a) => a.toLowerCase());
  const pos = args.slice(1).filter((a) => !a.startsWith('/'));
  if (sub === 'user') {
    const name = pos[0];
    if (!name) {
      io.out(
        `${CRLF}User accounts for \\\\${m.state.computerName}${CRLF}${CRLF}${Object.values(m.state.users)
          .map((u) => u.name)
          .join('    ')}${CRLF}The command completed successfully.${CRLF}${CRLF}`,
      );
      return 0;
    }
    if (flags.includes('/add')) {
      const password = pos[1] ?? '';
      if (password.length > 14 && !flags.includes('/y')) {
        io.out(
          `The password entered is longer than 14 characters.  Computers${CRLF}with Windows prior to Windows 2000 will not be able to use${CRLF}this account. Do you want to continue this operation? (Y/N) [Y]: `,
        );
        const answer = await io.proc.readLine();
        if (answer === null || /^n/i.test(answer)) {
          io.err(NET_MSG('The command was canceled.'));
          return 2;
        }
      }
      const r = m.addUser(name, password);
      if (r === 'ok') {
        await m.env.persist();
        io.out(NET_MSG('The command completed successfully.'));
        return 0;
      }
      if (r === 'exists') io.err(NET_MSG('The account already exists.', 2224));
      else if (r === 'policy')
        io.err(
          NET_MSG(
            'The password does not meet the password policy requirements. Check the minimum password length, password complexity and password history requirements.',
            2245,
          ),
        );
      else io.err(NET_MSG('The user name or group name parameter is invalid.', 3780));
      return 2;
    }
    const u = m.findUser(name);
    if (!u) {
      io.err(NET_MSG('The user name could not be found.', 2221));
      return 2;
    }
    const groups = Object.entries(m.state.groups).filter(([, g]) =>
      g.members.some((x) => x.toLowerCase() === u.name.toLowerCase()),
    );
    io.out(
      `User name                    ${u.name}${CRLF}Account active               ${u.enabled ? 'Yes' : 'No'}${CRLF}Local Group Memberships      ${groups.map(([k]) => '*' + k[0]!.toUpperCase() + k.slice(1)).join(' ')}${CRLF}The command completed successfully.${CRLF}${CRLF}`,
    );
    return 0;
  }
  if (sub === 'localgroup') {
    const group = pos[0];
    const member = pos[1];
    if (!group) return 0;
    if (flags.includes('/add') && member) {
      const r = m.addGroupMember(group, member);
      if (r === 'ok') {
        await m.env.persist();
        io.out(NET_MSG('The command completed successfully.'));
        return 0;
      }
      if (r === 'already')
        io.err(
          `System error 1378 has occurred.${CRLF}${CRLF}The specified account name is already a member of the group.${CRLF}${CRLF}`,
        );
      else if (r === 'no-user') io.err(NET_MSG(`There is no such global user or group: ${member}.`, 3783));
      else io.err(NET_MSG('The specified local group does not exist.', 3773));
      return 2;
    }
    const g = m.findGroup(group);
    if (!g) {
      io.err(NET_MSG('The specified local group does not exist.', 3773));
      return 2;
    }
    io.out(
      `Alias name     ${group}${CRLF}${CRLF}Members${CRLF}${CRLF}-------------------------------------------------------------------------------${CRLF}${g.members.join(CRLF)}${CRLF}The command completed successfully.${CRLF}${CRLF}`,
    );
    return 0;
  }
  if (sub === 'start' || sub === 'stop') {
    const s = pos[0] ? m.service(pos[0]) : undefined;
    if (!s) {
      io.err(NET_MSG('The service name is invalid.', 2185));
      return 2;
    }
    if (sub === 'start' && s.running) {
      io.err(NET_MSG('The requested service has already been started.', 2182));
      return 2;
    }
    s.running = sub === 'start';
    await m.env.persist();
    io.out(`The ${s.displayName} service was ${sub === 'start' ? 'started' : 'stopped'} successfully.${CRLF}${CRLF}`);
    return 0;
  }
  io.err(
    `The syntax of this command is:${CRLF}${CRLF}NET${CRLF}    [ ACCOUNTS | COMPUTER | CONFIG | CONTINUE | FILE | GROUP | HELP |${CRLF}      HELPMSG | LOCALGROUP | PAUSE | SESSION | SHARE | START |${CRLF}      STATISTICS | STOP | TIME | USE | USER | VIEW ]${CRLF}`,
  );
  return 1;
}

function regDisplayKey(key: string): string {
  return key.replace(/^HKLM\\?/i, 'HKEY_LOCAL_MACHINE\\').replace(/\\+$/, '');
}

async function reg(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const op = args[0]?.toLowerCase();
  const key = args[1];
  const opt = (f: string): string | undefined => {
    const i = args.findIndex((a) => a.toLowerCase() === f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const fail = (): number => {
    io.err(`ERROR: The system was unable to find the specified registry key or value.${CRLF}`);
    return 1;
  };
  if (!key || !/^(HKLM|HKEY_LOCAL_MACHINE)\\/i.test(key)) {
    io.err(`ERROR: Invalid key name.${CRLF}Type "REG ${op?.toUpperCase() ?? ''} /?" for usage.${CRLF}`);
    return 1;
  }
  if (op === 'query') {
    const vName = opt('/v');
    if (!m.regKeyExists(key)) return fail();
    const values = m.regValues(key) ?? {};
    const entries =
      vName === undefined
        ? Object.entries(values)
        : Object.entries(values).filter(([n]) => n.toLowerCase() === vName.toLowerCase());
    if (vName !== undefined && entries.length === 0) return fail();
    const fmt = (v: (typeof values)[string]): string =>
      v.type === 'REG_DWORD' || v.type === 'REG_QWORD' ? `0x${v.data.toString(16)}` : String(v.data);
    io.out(
      `${CRLF}${regDisplayKey(key)}${CRLF}${entries.map(([n, v]) => `    ${n}    ${v.type}    ${fmt(v)}${CRLF}`).join('')}${CRLF}`,
    );
    return 0;
  }
  if (op === 'add') {
    const vName = opt('/v');
    const type = (opt('/t') ?? 'REG_SZ').toUpperCase();
    const data = opt('/d') ?? '';
    if (vName === undefined) m.regCreateKey(key);
    else if (type === 'REG_DWORD' || type === 'REG_QWORD') {
      const n = /^0x/i.test(data) ? parseInt(data, 16) : Number(data);
      if (!Number.isFinite(n)) {
        io.err(`ERROR: Invalid syntax.${CRLF}`);
        return 1;
      }
      m.regSet(key, vName, { type, data: n });
    } else if (type === 'REG_SZ' || type === 'REG_EXPAND_SZ' || type === 'REG_MULTI_SZ')
      m.regSet(key, vName, { type, data });
    else {
      io.err(`ERROR: Invalid syntax.${CRLF}`);
      return 1;
    }
    await m.env.persist();
    io.out(`The operation completed successfully.${CRLF}${CRLF}`);
    return 0;
  }
  io.err(`ERROR: Invalid syntax.${CRLF}Type "REG /?" for usage.${CRLF}`);
  return 1;
}

function scState(s: { running: boolean }): string {
  return s.running ? '4  RUNNING' : '1  STOPPED';
}

async function sc(m: WindowsMachine, args: string[], io: Io): Promise<number> {
  const op = args[0]?.toLowerCase();
  const s = args[1] ? m.service(args[1]) : undefined;
  if (!s) {
    const what =
      op === 'query'
        ? 'EnumQueryServicesStatus:OpenService'
        : op === 'config'
          ? 'OpenService'
          : op === 'start'
            ? 'StartService: OpenService'
            : 'OpenService';
    io.out(
      `[SC] ${what} FAILED 1060:${CRLF}${CRLF}The specified service does not exist as an installed service.${CRLF}${CRLF}`,
    );
    return 1060;
  }
  const kernel = s.binaryPath.startsWith('\\SystemRoot');
  if (op === 'query') {
    io.out(
      `${CRLF}SERVICE_NAME: ${s.name}${CRLF}        TYPE               : ${kernel ? '1  KERNEL_DRIVER' : '10  WIN32_OWN_PROCESS'}${CRLF}        STATE              : ${scState(s)}${CRLF}` +
        `                                (${s.running ? 'STOPPABLE' : 'NOT_STOPPABLE'}, NOT_PAUSABLE, ${s.running ? 'ACCEPTS_SHUTDOWN' : 'IGNORES_SHUTDOWN'})${CRLF}` +
        `        WIN32_EXIT_CODE    : 0  (0x0)${CRLF}        SERVICE_EXIT_CODE  : 0  (0x0)${CRLF}        CHECKPOINT         : 0x0${CRLF}        WAIT_HINT          : 0x0${CRLF}`,
    );
    return 0;
  }
  if (op === 'qc') {
    const n = s.startType === 'AUTO_START' ? 2 : s.startType === 'DEMAND_START' ? 3 : 4;
    io.out(
      `[SC] QueryServiceConfig SUCCESS${CRLF}${CRLF}SERVICE_NAME: ${s.name}${CRLF}        START_TYPE         : ${n}   ${s.startType}${CRLF}        BINARY_PATH_NAME   : ${s.binaryPath}${CRLF}        DISPLAY_NAME       : ${s.displayName}${CRLF}`,
    );
    return 0;
  }
  if (op === 'config') {
    const i = args.findIndex((a) => a.toLowerCase() === 'start=');
    const v = i >= 0 ? args[i + 1]?.toLowerCase() : undefined;
    const map: Record<string, typeof s.startType> = {
      auto: 'AUTO_START',
      'delayed-auto': 'AUTO_START',
      demand: 'DEMAND_START',
      disabled: 'DISABLED',
    };
    if (!v || !map[v]) {
      io.out(`DESCRIPTION:${CRLF}        Modifies a service entry in the registry and Service Database.${CRLF}`);
      return 1639;
    }
    s.startType = map[v]!;
    await m.env.persist();
    io.out(`[SC] ChangeServiceConfig SUCCESS${CRLF}`);
    return 0;
  }
  if (op === 'start' || op === 'stop') {
    if (op === 'start' && s.running) {
      io.out(
        `[SC] StartService FAILED 1056:${CRLF}${CRLF}An instance of the service is already running.${CRLF}${CRLF}`,
      );
      return 1056;
    }
    if (op === 'start' && s.startType === 'DISABLED') {
      io.out(
        `[SC] StartService FAILED 1058:${CRLF}${CRLF}The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.${CRLF}${CRLF}`,
      );
      return 1058;
    }
    s.running = op === 'start';
    await m.env.persist();
    io.out(
      `${CRLF}SERVICE_NAME: ${s.name}${CRLF}        STATE              : ${op === 'start' ? '2  START_PENDING' : '3  STOP_PENDING'}${CRLF}`,
    );
    return 0;
  }
  io.out(
    `DESCRIPTION:${CRLF}        SC is a command line program used for communicating with the${CRLF}        Service Control Manager and services.${CRLF}`,
  );
  return 1;
}

function tasklist(m: WindowsMachine, args: string[], io: Io): number {
  const lower = args.map((a) => a.toLowerCase());
  const fi = args[lower.indexOf('/fi') + 1];
  const filter = fi ? /^imagename\s+eq\s+(.+)$/i.exec(fi.trim())?.[1]?.toLowerCase() : undefined;
  const procs = [...m.processes].filter((p) => !filter || p.image === filter);
  if (procs.length === 0) {
    io.out(`INFO: No tasks are running which match the specified criteria.${CRLF}`);
    return 0;
  }
  const csv = lower.includes('/fo') && args[lower.indexOf('/fo') + 1]?.toLowerCase() === 'csv';
  const nh = lower.includes('/nh');
  if (csv) {
    io.out(
      (nh ? '' : `"Image Name","PID","Session Name","Session#","Mem Usage"${CRLF}`) +
        procs.map((p) => `"${p.image}","${p.pid}","Services","0","10,240 K"${CRLF}`).join(''),
    );
  } else {
    io.out(
      (nh
        ? ''
        : `${CRLF}Image Name                     PID Session Name        Session#    Mem Usage${CRLF}========================= ======== ================ =========== ============${CRLF}`) +
        procs
          .map(
            (p) =>
              `${p.image.padEnd(25)} ${String(p.pid).padStart(8)} Services                   0     10,240 K${CRLF}`,
          )
          .join(''),
    );
  }
  return 0;
}
