// A simulated Windows with no VM behind it: the same machine, interpreters and WinRM service as a lab guest,
// listening on a loopback address. Used to test the WinRM client and the guest software on their own, and to
// measure other clients (pywinrm, winrm-client) against it.
import type { Logger } from 'pino';
import { log } from '../../log.js';
import { FaultBook, GuestFaultSchema, type GuestFaultInput } from './faults.js';
import { completeUpdatesAtBoot } from './windows/updates.js';
import { WindowsMachine, type CdDrive } from './machine.js';
import { shellProcessStarter } from './shellHost.js';
import { freshInstall, type WindowsState } from './state.js';
import { WsmanServer, type WsmanOperation } from './wsman.js';
import { applyPreSysprepState, completePendingOnBoot } from './windows/servicing.js';

export interface StandaloneOptions {
  address?: string;
  port?: number;
  https?: { pfx: Buffer; passphrase: string };
  adminPassword: string;
  scale?: number;
  state?: WindowsState;
  cdDrives?: CdDrive[];
  log?: Logger;
}

export interface StandaloneWindows {
  machine: WindowsMachine;
  server: WsmanServer;
  address: string;
  port: number;
  events: string[];
  inject(fault: GuestFaultInput): void;
  stop(): Promise<void>;
}

export async function startStandaloneWindows(o: StandaloneOptions): Promise<StandaloneWindows> {
  const faults = new FaultBook();
  const events: string[] = [];
  const scale = o.scale ?? 0.001;
  const logger = (o.log ?? log()).child({ component: 'standalone-windows' });
  const state =
    o.state ??
    freshInstall({
      computerName: 'WIN-STANDALONE',
      image: { index: 2, name: 'Windows Server 2022 SERVERSTANDARD' },
      firmware: 'bios',
      timeZone: 'UTC',
      uiLanguage: 'en-US',
      adminPassword: o.adminPassword,
      seed: 'standalone',
    });
  state.setupPhase = 'complete';
  state.winrm = { ...state.winrm, http: true, basic: true, allowUnencrypted: true };
  const ref: { server?: WsmanServer } = {};
  let stopped = false;
  const machine = new WindowsMachine(state, {
    vmName: 'standalone',
    scaled: (ms) => ms * scale,
    // No VM: a reboot restarts the WinRM service (shells gone, AUTO_START services up, new drivers bound).
    reboot: async () => {
      events.push('reboot');
      await ref.server?.stop();
      for (const p of machine.processes) p.terminate();
      for (const svc of Object.values(machine.state.services)) svc.running = svc.startType === 'AUTO_START';
      machine.state.servicingPending = false;
      completePendingOnBoot(machine.state);
      completeUpdatesAtBoot(machine.state);
      if (machine.state.pvTools) machine.state.pvDriversActive = true;
      setTimeout(() => void (stopped ? undefined : ref.server?.start()), 200).unref();
    },
    shutdown: async () => {
      events.push('shutdown');
      stopped = true;
      await ref.server?.stop();
    },
    nicSwap: () => ref.server?.dropConnections(),
    persist: async () => undefined,
    cdDrives: () => o.cdDrives ?? [],
    faults,
    log: logger,
  });
  const address = o.address ?? '127.0.0.1';
  const server = new WsmanServer({
    address,
    port: o.port ?? 0,
    tls: o.https,
    machineName: state.computerName,
    authenticate: (u, p) => machine.authenticate(u, p),
    authenticateNtlm: (u, d, c, r) => machine.authenticateNtlm(u, d, c, r),
    basicEnabled: () => machine.state.winrm.basic,
    allowUnencrypted: () => machine.state.winrm.allowUnencrypted,
    startProcess: shellProcessStarter(machine, (line, proc) => {
      if (faults.take('reset-during-command', (f) => line.includes(f.match))) {
        // The reset hits while the command runs: the process dies, connections reset, the "VM" is back later.
        proc.terminate();
        void server.stop().then(() => setTimeout(() => void (stopped ? undefined : server.start()), 300));
      }
    }),
    fault: (op: WsmanOperation | 'Unknown') => {
      if (faults.take('winrm-401')) return '401';
      if (faults.take('winrm-timeout', (f) => f.operation === 'any' || f.operation === op)) return 'timeout';
      return undefined;
    },
    log: logger,
  });
  ref.server = server;
  await server.start();
  return {
    machine,
    server,
    address,
    port: server.port,
    events,
    inject: (input) => {
      const f = GuestFaultSchema.parse(input);
      // State faults are facts of the installed system, as on a lab VM's disk.
      if (f.kind === 'sysprep-appx') machine.state.appx.push({ fullName: f.package, user: f.user, provisioned: false });
      else if (f.kind === 'sysprep-reserved-storage') machine.state.servicingPending = true;
      else if (f.kind === 'pre-sysprep-state') applyPreSysprepState(machine.state, f.state);
      else faults.add(f);
    },
    stop: () => {
      stopped = true;
      return server.stop();
    },
  };
}
