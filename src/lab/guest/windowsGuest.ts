// One simulated Windows inside one lab VM, driven by the VM's power events: Setup from the install and answer
// CDs (windowsPE → reboot → specialize + OOBE → first-logon commands), then every boot: services, WinRM
// listeners on the VM's loopback address, and the PV agent's guest metrics once the tools' drivers are bound.
// All state lives on the VM's system disk (disk.ts).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { LabHostApi, LabVmView, PowerEvent } from '../hostApi.js';
import { mountCdroms } from './cdrom.js';
import { Cmd, type Io } from './cmd.js';
import { readState, wipeState, writeFreeGarbage, writeState, writeSystemBlocks } from './disk.js';
import { FaultBook, type GuestFault } from './faults.js';
import { WindowsMachine, type CdDrive } from './machine.js';
import { GuestProcess, sleep } from './process.js';
import { AnswerFileError, findAnswerFile, findInstallMedia, planSetup, setupRefusals } from './setup.js';
import { shellProcessStarter } from './shellHost.js';
import { freshInstall, type WindowsState } from './state.js';
import { WsmanServer } from './wsman.js';
import { applyPreSysprepState, completePendingOnBoot } from './windows/servicing.js';
import { completeUpdatesAtBoot, updateState } from './windows/updates.js';

export interface GuestPorts {
  http: number;
  https: number;
}

export interface GuestStatus {
  phase: 'off' | 'no-os' | 'setup' | 'setup-failed' | 'running';
  setupError?: string;
}

// Realistic durations (scaled by the lab's speed factor).
const WINDOWS_PE_MS = 8 * 60_000;
const SPECIALIZE_MS = 2 * 60_000;
const BOOT_MS = 40_000;
const AGENT_REPORT_MS = 20_000;

export class WindowsGuest {
  machine: WindowsMachine | null = null;
  status: GuestStatus = { phase: 'off' };
  readonly faults = new FaultBook();
  /** Every command line this guest ever received, across reboots (the machine's log is per boot). */
  readonly commandLog: string[] = [];
  readonly servers: { http?: WsmanServer; https?: WsmanServer } = {};
  private readonly listenerPorts: Partial<GuestPorts> = {};
  private boot = 0;
  private drives: CdDrive[] = [];
  private persistChain: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly host: LabHostApi,
    readonly vmRef: string,
    private readonly o: {
      guestDir: string;
      ports: GuestPorts;
      log: Logger;
      preinstall?: (vm: LabVmView) => WindowsState | undefined;
      /** The scenario's update catalog (windows/updates.ts CATALOGS); the state's own, else `default`, when absent. */
      updateCatalog?: string;
    },
  ) {
    this.log = o.log.child({ vm: vmRef });
  }

  get vm(): LabVmView | undefined {
    return this.host.getVm(this.vmRef);
  }

  onPower(e: PowerEvent): void {
    if (e.kind === 'started') void this.start();
    else if (e.kind === 'halted') void this.powerOff();
    else if (e.kind === 'rebooted') void this.powerOff().then(() => this.start());
  }

  inject(f: GuestFault): void {
    if (f.kind === 'sysprep-appx' || f.kind === 'sysprep-reserved-storage' || f.kind === 'pre-sysprep-state') {
      // State faults: they are facts of the installed system, kept on its disk.
      if (this.machine) {
        this.applyStateFault(this.machine.state, f);
        void this.persist();
      } else this.faults.add(f);
      return;
    }
    this.faults.add(f);
  }

  private applyStateFault(state: WindowsState, f: GuestFault): void {
    if (f.kind === 'sysprep-appx') state.appx.push({ fullName: f.package, user: f.user, provisioned: false });
    if (f.kind === 'sysprep-reserved-storage') state.servicingPending = true;
    if (f.kind === 'pre-sysprep-state') applyPreSysprepState(state, f.state);
  }

  /** Writes the machine state to the VM's current system disk, in order. */
  persist(): Promise<void> {
    const m = this.machine;
    const disk = this.vm?.systemDisk;
    if (!m || !disk) return this.persistChain;
    const snapshot = structuredClone(m.state);
    this.persistChain = this.persistChain
      .then(() => writeState(this.host, disk.vdiRef, snapshot))
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'guest state not persisted'));
    return this.persistChain;
  }

  async powerOff(): Promise<void> {
    this.boot++;
    const m = this.machine;
    this.machine = null;
    if (m) for (const p of m.processes) p.terminate();
    await Promise.all([this.servers.http?.stop(), this.servers.https?.stop()]);
    this.servers.http = undefined;
    this.servers.https = undefined;
    await this.persistChain;
    this.status = { phase: 'off' };
  }

  private alive(boot: number): boolean {
    return this.boot === boot && this.vm?.powerState === 'Running';
  }

  async start(): Promise<void> {
    const boot = ++this.boot;
    const vm = this.vm;
    if (!vm || vm.domainType !== 'hvm' || !vm.systemDisk) return;
    try {
      await mkdir(this.o.guestDir, { recursive: true });
      this.drives = await mountCdroms(vm.cdroms, this.o.guestDir);
      let state = await readState(this.host, vm.systemDisk.vdiRef);
      if (!state && this.o.preinstall) {
        state = this.o.preinstall(vm) ?? null;
        if (state) {
          await writeSystemBlocks(this.host, vm.systemDisk.vdiRef, vm.systemDisk.virtualSize, state.seed);
          const extents = await writeFreeGarbage(
            this.host,
            vm.systemDisk.vdiRef,
            vm.systemDisk.virtualSize,
            state.seed,
          );
          state.freeGarbage = { extents, zeroed: false };
          await writeState(this.host, vm.systemDisk.vdiRef, state);
        }
      }
      if (!this.alive(boot)) return;
      if (!state) return await this.windowsPE(boot, vm);
      await sleep(this.host.scaled(BOOT_MS));
      if (!this.alive(boot)) return;
      this.attach(state);
      for (const f of this.faults.drain('sysprep-appx')) this.applyStateFault(state, f);
      for (const f of this.faults.drain('sysprep-reserved-storage')) this.applyStateFault(state, f);
      for (const f of this.faults.drain('pre-sysprep-state')) this.applyStateFault(state, f);
      if (state.setupPhase !== 'complete') {
        await this.specializeAndOobe(boot);
        return;
      }
      await this.running(boot);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'simulated Windows failed to boot');
    }
  }

  private attach(state: WindowsState): void {
    // A reboot completes pending servicing (reserved storage released) and binds freshly installed PV drivers.
    state.servicingPending = false;
    completePendingOnBoot(state);
    completeUpdatesAtBoot(state);
    // The catalog belongs to the update service, i.e. to the scenario, not to the disk.
    if (this.o.updateCatalog) updateState(state).catalog = this.o.updateCatalog;
    if (state.pvTools) state.pvDriversActive = true;
    for (const s of Object.values(state.services)) s.running = s.startType === 'AUTO_START';
    this.machine = new WindowsMachine(state, {
      vmName: this.vm?.nameLabel ?? this.vmRef,
      scaled: (ms) => this.host.scaled(ms),
      reboot: () =>
        this.host
          .guestReboot(this.vmRef)
          .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'guest reboot refused')),
      shutdown: () =>
        this.host
          .guestShutdown(this.vmRef)
          .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'guest shutdown refused')),
      nicSwap: () => {
        this.servers.http?.dropConnections();
        this.servers.https?.dropConnections();
      },
      persist: async () => {
        await this.persist();
        await this.reconcileListeners();
      },
      cdDrives: () => this.drives,
      hasVendorDevice: () => this.vm?.hasVendorDevice === true,
      faults: this.faults,
      log: this.log,
    });
    const log = this.machine.commandLog;
    const original = log.push.bind(log);
    log.push = (...lines: string[]) => {
      this.commandLog.push(...lines);
      return original(...lines);
    };
  }

  /** Setup's first pass: checks media and answer file, "copies Windows", then reboots. */
  private async windowsPE(boot: number, vm: LabVmView): Promise<void> {
    const media = findInstallMedia(this.drives);
    if (!media) {
      this.status = { phase: 'no-os' };
      return; // no bootable media: the VM sits at "No bootable device"
    }
    this.status = { phase: 'setup' };
    const refusals = setupRefusals(media, { firmware: vm.firmware, secureBoot: vm.secureBoot, vtpm: vm.vtpm });
    if (refusals.length > 0) {
      const setupError = `This PC can't run ${media.product ?? 'Windows'}: ${refusals.join(' ')}`;
      this.status = { phase: 'setup-failed', setupError };
      this.log.warn({ reason: setupError }, 'Windows Setup stopped: the VM does not meet the system requirements');
      return;
    }
    const answer = findAnswerFile(this.drives);
    let plan;
    try {
      if (!answer)
        throw new AnswerFileError('no Autounattend.xml on any CD: Setup waits for input at the language screen');
      const firmware = (vm as LabVmView & { firmware?: string }).firmware === 'uefi' ? 'uefi' : 'bios';
      plan = await planSetup(answer.text, media, firmware);
    } catch (err) {
      if (!(err instanceof AnswerFileError)) throw err;
      this.status = { phase: 'setup-failed', setupError: err.message };
      this.log.warn({ reason: err.message }, 'Windows Setup stopped: the answer file was rejected');
      return;
    }
    await wipeState(this.host, vm.systemDisk!.vdiRef);
    await sleep(this.host.scaled(WINDOWS_PE_MS));
    if (!this.alive(boot)) return;
    const state = freshInstall({
      computerName: plan.computerName === '*' ? `WIN-${vm.uuid.slice(0, 11).toUpperCase()}` : plan.computerName,
      image: plan.image,
      firmware: plan.firmware,
      timeZone: plan.timeZone,
      uiLanguage: plan.uiLanguage,
      adminPassword: plan.adminPassword,
      seed: vm.uuid,
    });
    // Setup caches the answer file (with its encoded passwords) in C:\Windows\Panther, as real Windows does.
    state.files['c:\\windows\\panther\\unattend.xml'] = {
      path: 'C:\\Windows\\Panther\\unattend.xml',
      data: Buffer.from(answer!.text).toString('base64'),
    };
    state.files['c:\\windows\\panther\\xenimage-firstlogon.json'] = {
      path: 'C:\\Windows\\Panther\\xenimage-firstlogon.json',
      data: Buffer.from(
        JSON.stringify(
          plan.firstLogonCommands.map((c) => ({
            order: c.order,
            commandLine: c.commandLine,
            description: c.description,
          })),
        ),
      ).toString('base64'),
    };
    await writeSystemBlocks(this.host, vm.systemDisk!.vdiRef, vm.systemDisk!.virtualSize, state.seed);
    // Setup's temporary files, deleted: free space that still holds their data.
    const extents = await writeFreeGarbage(this.host, vm.systemDisk!.vdiRef, vm.systemDisk!.virtualSize, state.seed);
    state.freeGarbage = { extents, zeroed: false };
    await writeState(this.host, vm.systemDisk!.vdiRef, state);
    if (!this.alive(boot)) return;
    await this.host.guestReboot(this.vmRef);
  }

  /** Specialize and OOBE after the first reboot (or after a generalize), then the first logon. */
  private async specializeAndOobe(boot: number): Promise<void> {
    const m = this.machine!;
    await sleep(this.host.scaled(SPECIALIZE_MS));
    if (!this.alive(boot)) return;
    const generalized = m.state.setupPhase === 'generalized';
    m.state.setupPhase = 'complete';
    m.imageState = 'IMAGE_STATE_COMPLETE';
    await this.persist();
    if (generalized) {
      await this.running(boot);
      return;
    }
    const cmds = JSON.parse(m.readFile('C:\\Windows\\Panther\\xenimage-firstlogon.json')?.toString() ?? '[]') as Array<{
      commandLine: string;
      description: string;
    }>;
    this.status = { phase: 'running' };
    await this.running(boot);
    for (const c of cmds) {
      if (!this.alive(boot)) return;
      const proc = new GuestProcess('cmd.exe', c.commandLine);
      m.processes.add(proc);
      m.commandLog.push(c.commandLine);
      const out: string[] = [];
      const io: Io = {
        proc,
        out: (s) => void out.push(s),
        err: (s) => void out.push(s),
        user: 'Administrator',
        vars: m.envVars('Administrator'),
      };
      const code = await new Cmd(m, io).run(c.commandLine).catch(() => 1);
      m.processes.delete(proc);
      m.writeFile(
        'C:\\Windows\\Panther\\UnattendGC\\setupact.log',
        `[Shell Unattend] Running 'oobeSystem' pass: ${c.description}: exit code ${code}\r\n`,
        true,
      );
      this.log.info({ step: c.description, exitCode: code }, 'first-logon command finished');
      await this.persist();
      await this.reconcileListeners();
    }
  }

  /** A booted, set-up system: services up, listeners per configuration, the PV agent reporting. */
  private async running(boot: number): Promise<void> {
    this.status = { phase: 'running' };
    await this.reconcileListeners();
    const m = this.machine;
    if (m?.state.pvDriversActive) {
      await sleep(this.host.scaled(AGENT_REPORT_MS));
      if (!this.alive(boot) || !this.machine) return;
      await this.reportMetrics();
    }
  }

  private async reportMetrics(): Promise<void> {
    const vm = this.vm;
    const m = this.machine;
    if (!vm || !m?.state.pvTools) return;
    await this.host.reportGuestMetrics(this.vmRef, {
      networks: agentNetworks(vm),
      pvDriversVersion: { ...m.state.pvTools },
      pvDriversDetected: true,
      osVersion: {
        name: `Microsoft ${m.state.image.name}|C:\\Windows|\\Device\\Harddisk0\\Partition2`,
        distro: 'windows',
        major: '10',
        minor: '0',
        spmajor: '0',
        spminor: '0',
      },
      other: {
        'feature-shutdown': '1',
        'feature-poweroff': '1',
        'feature-reboot': '1',
        'feature-suspend': '1',
        'has-vendor-device': '0',
        platform_feature_multiprocessor_suspend: '1',
      },
    });
  }

  /** Starts or stops the HTTP/HTTPS listeners to match the WinRM service, its configuration and the firewall. */
  async reconcileListeners(): Promise<void> {
    const m = this.machine;
    const vm = this.vm;
    const svc = m?.service('winrm');
    const up = Boolean(m && vm && svc?.running);
    const wantHttp = up && m!.state.winrm.http && m!.state.winrm.firewall.includes(5985);
    const thumb = m?.state.winrm.httpsThumbprint;
    const cert = thumb ? m!.state.certificates[thumb] : undefined;
    const wantHttps = up && Boolean(cert) && m!.state.winrm.firewall.includes(5986);
    for (const kind of ['http', 'https'] as const) {
      const want = kind === 'http' ? wantHttp : wantHttps;
      const have = this.servers[kind];
      if (!want && have) {
        this.servers[kind] = undefined;
        await have.stop();
      } else if (want && !have) {
        const server = new WsmanServer({
          address: vm!.address,
          // A listener keeps its port across restarts, like Windows' fixed 5985/5986 (also when tests ask for any free port).
          port: this.listenerPorts[kind] ?? this.o.ports[kind],
          tls: kind === 'https' ? { pfx: Buffer.from(cert!.pfx, 'base64'), passphrase: cert!.passphrase } : undefined,
          machineName: m!.state.computerName,
          authenticate: (u, p) => (this.machine ? this.machine.authenticate(u, p) : 'denied'),
          authenticateNtlm: (u, d, c, r) => (this.machine ? this.machine.authenticateNtlm(u, d, c, r) : 'denied'),
          basicEnabled: () => this.machine?.state.winrm.basic ?? false,
          allowUnencrypted: () => this.machine?.state.winrm.allowUnencrypted ?? false,
          startProcess: shellProcessStarter(m!, (line, proc) => {
            if (this.faults.take('reset-during-command', (f) => line.includes(f.match))) {
              // The VM resets while the command runs: the process dies with the OS, connections reset.
              proc.terminate();
              void this.powerOff()
                .then(() => this.host.guestReboot(this.vmRef))
                .catch(() => undefined);
            }
          }),
          fault: (op) => {
            if (this.faults.take('winrm-401')) return '401';
            if (this.faults.take('winrm-timeout', (f) => f.operation === 'any' || f.operation === op)) return 'timeout';
            return undefined;
          },
          log: this.log,
        });
        this.servers[kind] = server;
        try {
          await server.start();
          this.listenerPorts[kind] = server.port;
        } catch (err) {
          this.servers[kind] = undefined;
          this.log.error({ err: (err as Error).message, kind }, 'WinRM listener could not bind');
        }
      }
    }
  }

  get winrm(): { address: string; port: number; https: boolean } | undefined {
    const vm = this.vm;
    const s = this.servers.https ?? this.servers.http;
    return vm && s ? { address: vm.address, port: s.port, https: s.https } : undefined;
  }
}

/**
 * The PV agent's `networks` map: per VIF "<n>/ip" (its first IPv4) and "<n>/ipv4/<i>", "<n>/ipv6/<i>" for every
 * address of this boot (several NICs, IPv6), as xe-guest-utilities and the Windows agent write them.
 */
export function agentNetworks(vm: LabVmView): Record<string, string> {
  const all = [{ device: '0', family: 'ipv4' as const, address: vm.address }, ...vm.extraAddresses];
  const out: Record<string, string> = {};
  const count: Record<string, number> = {};
  for (const a of all) {
    const key = `${a.device}/${a.family}`;
    const i = count[key] ?? 0;
    count[key] = i + 1;
    out[`${key}/${i}`] = a.address;
    if (a.family === 'ipv4' && out[`${a.device}/ip`] === undefined) out[`${a.device}/ip`] = a.address;
  }
  return out;
}

export function guestDir(stateDir: string, vmUuid: string): string {
  return path.join(stateDir, 'guests', vmUuid);
}
