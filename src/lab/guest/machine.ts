// The operating system inside one simulated Windows VM: file system (C: in the disk state, CD drives from the
// inserted ISOs), registry, accounts and groups, services, installed products, msiexec and sysprep. The command
// interpreters (cmd.ts, powershell.ts) call into it; every change is persisted to the VM's disk.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import nodePath from 'node:path';
import type { Logger } from 'pino';
import type { FaultBook } from './faults.js';
import { sleep, type GuestProcess } from './process.js';
import {
  ADMINISTRATORS_SID,
  SETUP_STATE_KEY,
  TOKEN_FILTER_KEY,
  checkPassword,
  credentials,
  type RegValue,
  type ServiceEntry,
  type WindowsState,
  addPvTools,
} from './state.js';

export interface CdDrive {
  letter: string;
  label: string;
  /** Host directory holding the ISO's extracted files. */
  dir: string;
}

export interface MachineEnv {
  vmName: string;
  scaled(ms: number): number;
  /** The guest restarts itself (shutdown /r, MSI 1641). */
  reboot(): Promise<void>;
  /** The guest powers off (shutdown /s, sysprep /shutdown). */
  shutdown(): Promise<void>;
  /** The PV NIC replaces the emulated one: open TCP connections break. */
  nicSwap(): void;
  persist(): Promise<void>;
  cdDrives(): CdDrive[];
  /** VM.has_vendor_device of the VM this guest runs in (the C000 device is present). */
  hasVendorDevice?(): boolean;
  faults: FaultBook;
  log: Logger;
}

export type AddUserResult = 'ok' | 'exists' | 'policy' | 'invalid-name';
export type AddMemberResult = 'ok' | 'already' | 'no-user' | 'no-group';

const SYSPREP_DIR = 'C:\\Windows\\System32\\Sysprep';
export const SYSPREP_TAG = `${SYSPREP_DIR}\\Sysprep_succeeded.tag`;
export const CLOUDBASE_DIR = 'C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init';

function stamp(): string {
  return new Date().toISOString().replace('T', ' ').slice(0, 19);
}

export class WindowsMachine {
  /** Every command line the guest received (cmd.exe lines, PowerShell scripts as decoded): tests audit it. */
  readonly commandLog: string[] = [];
  readonly processes = new Set<GuestProcess>();
  private msiBusy = false;

  constructor(
    public state: WindowsState,
    readonly env: MachineEnv,
  ) {}

  // ---- paths and files ----

  envVars(user = 'Administrator'): Record<string, string> {
    return {
      SYSTEMROOT: 'C:\\Windows',
      WINDIR: 'C:\\Windows',
      SYSTEMDRIVE: 'C:',
      PROGRAMFILES: 'C:\\Program Files',
      'PROGRAMFILES(X86)': 'C:\\Program Files (x86)',
      PROGRAMDATA: 'C:\\ProgramData',
      TEMP: 'C:\\Windows\\Temp',
      TMP: 'C:\\Windows\\Temp',
      COMPUTERNAME: this.state.computerName,
      USERNAME: user,
      USERPROFILE: `C:\\Users\\${user}`,
      COMSPEC: 'C:\\Windows\\system32\\cmd.exe',
      PATH: 'C:\\Windows\\system32;C:\\Windows;C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\',
      OS: 'Windows_NT',
    };
  }

  static normalize(p: string): string {
    let s = p
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .replace(/\//g, '\\');
    s = s.replace(/\\+$/, '');
    if (/^[A-Za-z]:$/.test(s)) return s.toUpperCase() + '\\';
    return s.length > 1 && s[1] === ':' ? s[0]!.toUpperCase() + s.slice(1) : s;
  }

  private cdFor(p: string): { drive: CdDrive; rel: string } | undefined {
    const letter = p[0]?.toUpperCase();
    if (!letter || p[1] !== ':' || letter === 'C') return undefined;
    const drive = this.env.cdDrives().find((d) => d.letter === letter);
    if (!drive) return undefined;
    const rel = p.slice(2).replace(/^\\/, '').split('\\').filter(Boolean);
    return { drive, rel: nodePath.join(drive.dir, ...rel) };
  }

  /** A CD file's host path, resolved case-insensitively as Windows would. */
  private cdHostPath(p: string): string | undefined {
    const cd = this.cdFor(WindowsMachine.normalize(p));
    if (!cd) return undefined;
    const parts = nodePath.relative(cd.drive.dir, cd.rel).split(nodePath.sep).filter(Boolean);
    let cur = cd.drive.dir;
    for (const part of parts) {
      if (!existsSync(cur) || !statSync(cur).isDirectory()) return undefined;
      const hit = readdirSync(cur).find((n) => n.toLowerCase() === part.toLowerCase());
      if (!hit) return undefined;
      cur = nodePath.join(cur, hit);
    }
    return cur;
  }

  fileExists(p: string): boolean {
    const n = WindowsMachine.normalize(p);
    const host = this.cdHostPath(n);
    if (host !== undefined) return existsSync(host);
    if (this.cdFor(n)) return false;
    return this.state.files[n.toLowerCase()] !== undefined || this.dirExists(n);
  }

  dirExists(p: string): boolean {
    const n = WindowsMachine.normalize(p);
    const host = this.cdHostPath(n);
    if (host !== undefined) return existsSync(host) && statSync(host).isDirectory();
    if (/^[A-Z]:\\$/.test(n)) return n === 'C:\\' || this.env.cdDrives().some((d) => d.letter === n[0]);
    const lower = n.toLowerCase();
    return (
      this.state.dirs.some((d) => d.toLowerCase() === lower) ||
      Object.keys(this.state.files).some((f) => f.startsWith(lower + '\\'))
    );
  }

  isFile(p: string): boolean {
    const n = WindowsMachine.normalize(p);
    const host = this.cdHostPath(n);
    if (host !== undefined) return existsSync(host) && statSync(host).isFile();
    return this.state.files[n.toLowerCase()] !== undefined;
  }

  readFile(p: string): Buffer | undefined {
    const n = WindowsMachine.normalize(p);
    const host = this.cdHostPath(n);
    if (host !== undefined) return existsSync(host) && statSync(host).isFile() ? readFileSync(host) : undefined;
    const f = this.state.files[n.toLowerCase()];
    return f ? Buffer.from(f.data, 'base64') : undefined;
  }

  /** Writes a C: file; false when the parent folder does not exist or the target is read-only media. */
  writeFile(p: string, data: Buffer | string, append = false): boolean {
    const n = WindowsMachine.normalize(p);
    if (this.cdFor(n) || !/^C:\\/i.test(n)) return false;
    const parent = n.slice(0, n.lastIndexOf('\\'));
    if (parent.length > 2 && !this.dirExists(parent)) return false;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const key = n.toLowerCase();
    const old = append ? this.readFile(n) : undefined;
    this.state.files[key] = { path: n, data: (old ? Buffer.concat([old, buf]) : buf).toString('base64') };
    return true;
  }

  mkdir(p: string): void {
    const n = WindowsMachine.normalize(p);
    const parts = n.split('\\');
    for (let i = 2; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('\\');
      if (d.length > 3 && !this.dirExists(d)) this.state.dirs.push(d);
    }
  }

  deleteFile(p: string): boolean {
    const key = WindowsMachine.normalize(p).toLowerCase();
    if (!this.state.files[key]) return false;
    delete this.state.files[key];
    return true;
  }

  /** Names directly inside a folder (files and sub-folders). */
  listDir(p: string): string[] {
    const n = WindowsMachine.normalize(p);
    const host = this.cdHostPath(n);
    if (host !== undefined) return existsSync(host) ? readdirSync(host) : [];
    const prefix = n.toLowerCase().replace(/\\$/, '') + '\\';
    const names = new Set<string>();
    for (const f of Object.values(this.state.files)) {
      if (f.path.toLowerCase().startsWith(prefix)) names.add(f.path.slice(prefix.length).split('\\')[0]!);
    }
    for (const d of this.state.dirs) {
      if (d.toLowerCase().startsWith(prefix)) names.add(d.slice(prefix.length).split('\\')[0]!);
    }
    return [...names].filter(Boolean).sort((a, b) => a.localeCompare(b));
  }

  // ---- registry ----

  static regKey(key: string): string {
    return key
      .replace(/^HKEY_LOCAL_MACHINE/i, 'HKLM')
      .replace(/^HKLM:/i, 'HKLM')
      .replace(/\\+$/, '')
      .toUpperCase();
  }

  regKeyExists(key: string): boolean {
    const k = WindowsMachine.regKey(key);
    return Object.keys(this.state.registry).some((r) => r === k || r.startsWith(k + '\\'));
  }

  regGet(key: string, name: string): RegValue | undefined {
    const values = this.state.registry[WindowsMachine.regKey(key)];
    if (!values) return undefined;
    const hit = Object.keys(values).find((v) => v.toLowerCase() === name.toLowerCase());
    return hit === undefined ? undefined : values[hit];
  }

  regValues(key: string): Record<string, RegValue> | undefined {
    return this.state.registry[WindowsMachine.regKey(key)];
  }

  regSet(key: string, name: string, value: RegValue): void {
    const k = WindowsMachine.regKey(key);
    const values = (this.state.registry[k] ??= {});
    const hit = Object.keys(values).find((v) => v.toLowerCase() === name.toLowerCase());
    values[hit ?? name] = value;
  }

  regCreateKey(key: string): void {
    this.state.registry[WindowsMachine.regKey(key)] ??= {};
  }

  get imageState(): string {
    const v = this.regGet(SETUP_STATE_KEY, 'ImageState');
    return v && typeof v.data === 'string' ? v.data : 'IMAGE_STATE_COMPLETE';
  }

  set imageState(value: string) {
    this.regSet(SETUP_STATE_KEY, 'ImageState', { type: 'REG_SZ', data: value });
  }

  // ---- accounts ----

  findUser(name: string): WindowsState['users'][string] | undefined {
    return this.state.users[name.toLowerCase()];
  }

  /** Windows' default complexity rules: ≥ 6 characters, 3 of 4 character classes, not the account name. */
  static meetsPolicy(name: string, password: string): boolean {
    if (password.length < 6) return false;
    if (name.length >= 3 && password.toLowerCase().includes(name.toLowerCase())) return false;
    const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(password)).length;
    return classes >= 3;
  }

  addUser(name: string, password: string): AddUserResult {
    if (!/^[^"/\\[\]:;|=,+*?<>@]{1,20}$/.test(name) || /^[. ]+$/.test(name)) return 'invalid-name';
    if (this.findUser(name)) return 'exists';
    if (this.env.faults.take('password-policy') || !WindowsMachine.meetsPolicy(name, password)) return 'policy';
    const rid = 1000 + Object.values(this.state.users).filter((u) => u.rid >= 1000).length;
    this.state.users[name.toLowerCase()] = {
      name,
      rid,
      ...credentials(password),
      enabled: true,
      passwordNeverExpires: false,
    };
    this.state.groups.users?.members.push(name);
    return 'ok';
  }

  findGroup(nameOrSid: string): { key: string; sid: string; members: string[] } | undefined {
    const lower = nameOrSid.toLowerCase();
    for (const [key, g] of Object.entries(this.state.groups)) {
      if (key === lower || g.sid.toLowerCase() === lower) return { key, ...g };
    }
    return undefined;
  }

  addGroupMember(group: string, user: string): AddMemberResult {
    const g = this.findGroup(group);
    if (!g) return 'no-group';
    const u = this.findUser(user);
    if (!u) return 'no-user';
    const members = this.state.groups[g.key]!.members;
    if (members.some((m) => m.toLowerCase() === u.name.toLowerCase())) return 'already';
    members.push(u.name);
    return 'ok';
  }

  isAdmin(user: string): boolean {
    return this.state.groups.administrators?.members.some((m) => m.toLowerCase() === user.toLowerCase()) ?? false;
  }

  /**
   * WinRM logon. `filtered`: a local administrator other than RID 500 gets a filtered token over the network
   * unless LocalAccountTokenFilterPolicy = 1, and WinRM answers 401.
   */
  authenticate(user: string, password: string): 'ok' | 'denied' | 'filtered' {
    const name = user.replace(/^\.\\|^[^\\]+\\/, '');
    const u = this.findUser(name);
    if (!u || !u.enabled || !checkPassword(u, password)) return 'denied';
    return this.remoteToken(u);
  }

  /**
   * NTLMv2 logon (MS-NLMP 3.3.2): NTOWFv2 = HMAC-MD5(NT hash, UTF-16LE(UPPER(user) + domain)); the response's
   * first 16 bytes must be HMAC-MD5(NTOWFv2, server challenge + the rest of the response).
   */
  authenticateNtlm(
    user: string,
    domain: string,
    serverChallenge: Buffer,
    ntResponse: Buffer,
  ): 'ok' | 'denied' | 'filtered' {
    const u = this.findUser(user);
    if (!u || !u.enabled || !u.ntHash || ntResponse.length < 48) return 'denied';
    if (domain !== '' && domain !== '.' && domain.toUpperCase() !== this.state.computerName.toUpperCase())
      return 'denied';
    const owf = createHmac('md5', Buffer.from(u.ntHash, 'hex'))
      .update(Buffer.from(user.toUpperCase() + domain, 'utf16le'))
      .digest();
    const proof = createHmac('md5', owf)
      .update(Buffer.concat([serverChallenge, ntResponse.subarray(16)]))
      .digest();
    if (!timingSafeEqual(proof, ntResponse.subarray(0, 16))) return 'denied';
    return this.remoteToken(u);
  }

  private remoteToken(u: WindowsState['users'][string]): 'ok' | 'denied' | 'filtered' {
    if (!this.isAdmin(u.name)) return 'denied';
    if (u.rid !== 500) {
      const policy = this.regGet(TOKEN_FILTER_KEY, 'LocalAccountTokenFilterPolicy');
      if (!policy || policy.data !== 1) return 'filtered';
    }
    return 'ok';
  }

  // ---- services ----

  service(name: string): ServiceEntry | undefined {
    return this.state.services[name.toLowerCase()];
  }

  addService(s: Omit<ServiceEntry, 'running'>): void {
    this.state.services[s.name.toLowerCase()] = { ...s, running: false };
  }

  // ---- msiexec ----

  /** msiexec with Windows Installer's exit codes; writes the verbose log when /l*v is given. */
  async msiexec(args: string[], proc: GuestProcess): Promise<number> {
    let pkg: string | undefined;
    let logPath: string | undefined;
    let norestart = false;
    let quiet = false;
    const props: Record<string, string> = {};
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const lower = a.toLowerCase();
      if (lower === '/i' || lower === '/package') pkg = args[++i];
      else if (/^\/l\*?v?x?$/i.test(a) || /^\/l[*a-z+!]*$/i.test(a)) logPath = args[++i];
      else if (lower === '/norestart') norestart = true;
      else if (lower === '/quiet' || lower === '/qn' || lower === '/passive' || lower === '/qb') quiet = true;
      else if (/^[A-Z_][A-Z0-9_.]*=/i.test(a)) {
        const eq = a.indexOf('=');
        props[a.slice(0, eq).toUpperCase()] = a.slice(eq + 1).replace(/^"(.*)"$/, '$1');
      } else if (!pkg && !a.startsWith('/')) pkg = a;
      else return 1639; // ERROR_INVALID_COMMAND_LINE
    }
    if (!pkg) return 1639;
    if (!quiet) {
      // A UI install waits for a click that never comes in session 0.
      await sleep(2 ** 31 - 1, proc.signal).catch(() => undefined);
      return 1602;
    }
    const log: string[] = [
      `=== Verbose logging started: ${stamp()}  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\\Windows\\system32\\msiexec.exe ===`,
    ];
    const finish = (code: number): number => {
      log.push(
        `MSI (s) (58:44) [${stamp().slice(11)}]: Product: ${nodePath.win32.basename(pkg!)} -- Installation ${code === 0 || code === 3010 || code === 1641 ? 'completed successfully' : 'failed'}.`,
      );
      log.push(
        `MSI (s) (58:44) [${stamp().slice(11)}]: Windows Installer installed the product. Installation success or error status: ${code}.`,
      );
      log.push(`MSI (s) (58:44) [${stamp().slice(11)}]: MainEngineThread is returning ${code}`);
      log.push(`=== Verbose logging stopped: ${stamp()} ===`);
      if (logPath) this.writeFile(logPath, log.join('\r\n') + '\r\n');
      return code;
    };
    const data = this.readFile(pkg);
    if (!data) return finish(1619); // ERROR_INSTALL_PACKAGE_OPEN_FAILED
    if (!data.subarray(0, 8).equals(Buffer.from('d0cf11e0a1b11ae1', 'hex'))) return finish(1620); // not an MSI
    const file = nodePath.win32.basename(WindowsMachine.normalize(pkg));
    if (this.msiBusy) return finish(1618);
    const fault = this.env.faults.take(
      'msi-exit',
      (f) => f.msi === '*' || file.toLowerCase().includes(f.msi.toLowerCase()),
    );
    if (fault?.code === 1618) return finish(1618);
    this.msiBusy = true;
    try {
      const xcpng = /^(XenTools|XenDrivers)-x64\.msi$/i.test(file);
      const product =
        /managementagent/i.test(file) || xcpng ? 'pv-tools' : /cloudbase/i.test(file) ? 'cloudbase-init' : 'generic';
      await sleep(this.env.scaled(product === 'generic' ? 10_000 : 45_000), proc.signal);
      if (fault?.code === 1603) {
        log.push(
          'CustomAction InstallDrivers returned actual error code 1603 (note this may not be 100% accurate if translation happened inside sandbox)',
        );
        log.push('Action ended: InstallFinalize. Return value 3.');
        return finish(1603);
      }
      if (xcpng && this.env.hasVendorDevice?.()) {
        // The XCP-ng tools' launch condition on a present Windows Update vendor device (PCI 5853:C000).
        log.push(
          'MSI (s) (58:44): Product: XCP-ng Windows PV Tools -- Found incompatible devices: [PCI\\VEN_5853&DEV_C000&SUBSYS_C0005853&REV_01]. Disable the "Manage Citrix PV drivers via Windows Update" feature before installing.',
        );
        log.push('Action ended: LaunchConditions. Return value 3.');
        return finish(1603);
      }
      if (product === 'pv-tools') {
        // The PV NIC replaces the emulated one mid-install: WinRM connections break, the service keeps running.
        this.env.nicSwap();
        await sleep(this.env.scaled(15_000), proc.signal);
        this.installPvTools(file, xcpng ? 'xcp-ng' : 'xenserver', props);
      } else if (product === 'cloudbase-init') {
        this.installCloudbaseInit(file, props);
      } else {
        this.state.products.push({
          name: file.replace(/\.msi$/i, ''),
          version: '1.0.0',
          productCode: '{00000000-0000-0000-0000-000000000001}',
          msi: file,
        });
      }
      log.push('Action ended: INSTALL. Return value 1.');
      await this.env.persist();
      if (product === 'pv-tools') {
        if (norestart) return finish(3010);
        setTimeout(() => void this.env.reboot(), this.env.scaled(5000)).unref();
        return finish(1641);
      }
      return finish(0);
    } finally {
      this.msiBusy = false;
    }
  }

  private installPvTools(file: string, kind: 'xenserver' | 'xcp-ng', props: Record<string, string>): void {
    addPvTools(this.state, file, kind, props);
  }

  private installCloudbaseInit(file: string, props: Record<string, string>): void {
    const localSystem = props.RUN_SERVICE_AS_LOCAL_SYSTEM !== undefined && props.RUN_SERVICE_AS_LOCAL_SYSTEM !== '';
    this.state.products.push({
      name: 'Cloudbase-Init',
      version: '1.1.6',
      productCode: '{ED85F19F-057A-4EE6-BC8B-7A7B0A5E4A2C}',
      msi: file,
    });
    for (const d of ['bin', 'conf', 'log', 'LocalScripts', 'Python\\Scripts']) this.mkdir(`${CLOUDBASE_DIR}\\${d}`);
    const username = props.USERNAME || 'Admin';
    const conf = [
      '[DEFAULT]',
      `username=${username}`,
      'groups=Administrators',
      `inject_user_password=${props.INJECTMETADATAPASSWORD === '' ? 'false' : 'true'}`,
      'config_drive_raw_hhd=true',
      'config_drive_cdrom=true',
      'config_drive_vfat=true',
      `bsdtar_path=${CLOUDBASE_DIR}\\bin\\bsdtar.exe`,
      `mtools_path=${CLOUDBASE_DIR}\\bin\\`,
      'verbose=true',
      'debug=true',
      `log_dir=${CLOUDBASE_DIR}\\log\\`,
      'log_file=cloudbase-init.log',
      props.LOGGINGSERIALPORTNAME ? `logging_serial_port_settings=${props.LOGGINGSERIALPORTNAME},115200,N,8` : '',
      `local_scripts_path=${CLOUDBASE_DIR}\\LocalScripts\\`,
      'check_latest_version=true',
    ].filter(Boolean);
    this.writeFile(`${CLOUDBASE_DIR}\\conf\\cloudbase-init.conf`, conf.join('\r\n') + '\r\n');
    this.writeFile(
      `${CLOUDBASE_DIR}\\conf\\cloudbase-init-unattend.conf`,
      conf.join('\r\n').replace('log_file=cloudbase-init.log', 'log_file=cloudbase-init-unattend.log') + '\r\n',
    );
    this.writeFile(
      `${CLOUDBASE_DIR}\\conf\\Unattend.xml`,
      '<?xml version="1.0" encoding="utf-8"?>\r\n<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="generalize"><component name="Microsoft-Windows-PnpSysprep" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS"><PersistAllDeviceInstalls>true</PersistAllDeviceInstalls></component></settings></unattend>\r\n',
    );
    this.writeFile(
      `${CLOUDBASE_DIR}\\bin\\SetSetupComplete.cmd`,
      [
        '@echo off',
        'sc config cloudbase-init start= demand',
        'if not exist "%SystemRoot%\\Setup\\Scripts" mkdir "%SystemRoot%\\Setup\\Scripts"',
        'echo sc config cloudbase-init start= auto> "%SystemRoot%\\Setup\\Scripts\\SetupComplete.cmd"',
        'echo net start cloudbase-init>> "%SystemRoot%\\Setup\\Scripts\\SetupComplete.cmd"',
      ].join('\r\n') + '\r\n',
    );
    this.writeFile(`${CLOUDBASE_DIR}\\Python\\Scripts\\cloudbase-init.exe`, Buffer.from('MZ'));
    this.addService({
      name: 'cloudbase-init',
      displayName: 'Cloudbase-Init',
      startType: 'AUTO_START',
      binaryPath: `"${CLOUDBASE_DIR}\\Python\\Scripts\\cloudbase-init.exe" --config-file "${CLOUDBASE_DIR}\\conf\\cloudbase-init.conf"`,
    });
    if (!localSystem) {
      this.addUser('cloudbase-init', 'Cb!' + Math.random().toString(36).slice(2) + 'X9');
      this.addGroupMember(ADMINISTRATORS_SID, 'cloudbase-init');
    }
  }

  // ---- sysprep ----

  /** sysprep.exe: validates (AppX, servicing), generalizes, writes the Panther logs and the tag file. */
  async sysprep(args: string[], proc: GuestProcess): Promise<number> {
    const flags = new Set(args.filter((a) => !/^\/unattend:/i.test(a)).map((a) => a.toLowerCase()));
    const unattendArg = args.find((a) => /^\/unattend:/i.test(a));
    const panther = `${SYSPREP_DIR}\\Panther`;
    this.mkdir(panther);
    const act: string[] = [];
    const err: string[] = [];
    const line = (level: 'Info' | 'Error', text: string): void => {
      const l = `${stamp()}, ${level.padEnd(21)} SYSPRP ${text}`;
      act.push(l);
      if (level === 'Error') err.push(l);
    };
    const flush = (): void => {
      this.writeFile(`${panther}\\setupact.log`, act.join('\r\n') + '\r\n', true);
      this.writeFile(`${panther}\\setuperr.log`, err.length ? err.join('\r\n') + '\r\n' : '', true);
    };
    line('Info', '========================================================');
    line('Info', '===          Beginning of a new sysprep run          ===');
    line('Info', '========================================================');
    line('Info', `Sysprep called with arguments: ${args.join(' ')}`);
    if (!flags.has('/quiet') || this.env.faults.take('sysprep-hang')) {
      flush();
      await this.env.persist();
      // A dialog in session 0 that nobody can click: sysprep.exe never exits.
      await sleep(2 ** 31 - 1, proc.signal).catch(() => undefined);
      return 1;
    }
    await sleep(this.env.scaled(60_000), proc.signal);
    const known = ['/generalize', '/oobe', '/audit', '/quiet', '/quit', '/shutdown', '/reboot', '/mode:vm'];
    const unknown = [...flags].filter((f) => !known.includes(f));
    const unattend = unattendArg?.slice('/unattend:'.length).replace(/^"(.*)"$/, '$1');
    if (unknown.length || (unattend !== undefined && !this.isFile(unattend))) {
      line(
        'Error',
        unknown.length
          ? `Invalid command line argument(s): ${unknown.join(' ')}`
          : `Failed to find the unattend file ${unattend}; hr = 0x80070002`,
      );
      flush();
      await this.env.persist();
      return 1;
    }
    if (this.state.servicingPending) {
      line(
        'Error',
        'Sysprep_Clean_Validate_Opk: Audit mode cannot be turned on if reserved storage is in use. An update or servicing operation may be using reserved storage.; hr = 0x800F0975',
      );
      line(
        'Error',
        "ActionPlatform::LaunchModule: Failure occurred while executing 'Sysprep_Clean_Validate_Opk' from C:\\Windows\\System32\\spopk.dll; dwRet = 0x975",
      );
      line(
        'Error',
        'SysprepSession::Validate: Error in validating actions from C:\\Windows\\System32\\Sysprep\\ActionFiles\\Cleanup.xml; dwRet = 0x975',
      );
      line('Error', 'RunPlatformActions:Failed while validating Sysprep session actions; dwRet = 0x975');
      line(
        'Error',
        '[0x0f0070] RunExternalDlls:An error occurred while running registry sysprep DLLs, halting sysprep execution. dwRet = 0x975',
      );
      line(
        'Error',
        '[0x0f00d3] WinMain:Hit failure while pre-validate sysprep cleanup internal providers; hr = 0x80070975',
      );
      flush();
      await this.env.persist();
      return 1;
    }
    const unprovisioned = this.state.appx.find((p) => !p.provisioned);
    if (flags.has('/generalize') && unprovisioned) {
      line(
        'Error',
        `Package ${unprovisioned.fullName} was installed for a user, but not provisioned for all users. This package will not function properly in the sysprep image.`,
      );
      line('Error', 'Failed to remove apps for the current user: 0x80073cf2.');
      line('Error', 'Exit code of RemoveAllApps thread was 0x3cf2.');
      line(
        'Error',
        "[0x0f0082] ActionPlatform::LaunchModule: Failure occurred while executing 'SysprepGeneralizeValidate' from C:\\Windows\\System32\\AppxSysprep.dll; dwRet = 0x3cf2",
      );
      line(
        'Error',
        'SysprepSession::Validate: Error in validating actions from C:\\Windows\\System32\\Sysprep\\ActionFiles\\Generalize.xml; dwRet = 0x3cf2',
      );
      line('Error', 'RunPlatformActions:Failed while validating Sysprep session actions; dwRet = 0x3cf2');
      line(
        'Error',
        '[0x0f0070] RunExternalDlls:An error occurred while running registry sysprep DLLs, halting sysprep execution. dwRet = 0x3cf2',
      );
      line(
        'Error',
        '[0x0f00d8] WinMain:Hit failure while pre-validate sysprep generalize internal providers; hr = 0x80073cf2',
      );
      flush();
      await this.env.persist();
      return 1;
    }
    if (flags.has('/generalize')) {
      this.state.generalizeCount += 1;
      this.state.setupPhase = 'generalized';
      this.imageState = flags.has('/oobe')
        ? 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE'
        : 'IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT';
    }
    this.writeFile(SYSPREP_TAG, '');
    line('Info', `FCreateTagFile:Successfully created tag file ${SYSPREP_TAG}`);
    if (flags.has('/shutdown')) line('Info', 'ProcessShutdown:Successfully called InitiateSystemShutdownEx');
    flush();
    await this.env.persist();
    if (flags.has('/shutdown')) setTimeout(() => void this.env.shutdown(), this.env.scaled(3000)).unref();
    else if (flags.has('/reboot')) setTimeout(() => void this.env.reboot(), this.env.scaled(3000)).unref();
    return 0;
  }

  /** Log lines for Panther when setup's answer file is rejected. */
  pantherError(text: string): void {
    this.writeFile(
      'C:\\Windows\\Panther\\setuperr.log',
      `${stamp()}, Error                 [setup.exe] ${text}\r\n`,
      true,
    );
  }
}
