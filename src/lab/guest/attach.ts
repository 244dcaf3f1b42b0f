// Entry point of the simulated Windows guests: one WindowsGuest per lab VM, fed by the lab's power events, with
// the scenario's pre-installed systems and faults, and faults injected by tests at run time.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { log as rootLog } from '../../log.js';
import { registerSecretValue, SecretResolver } from '../../secrets.js';
import type { LabHostApi, LabVmView } from '../hostApi.js';
import { GuestFaultSchema, type GuestFault, type GuestFaultInput } from './faults.js';
import { parseGuestScenario, type PreinstalledWindows } from './scenario.js';
import { WindowsMachine } from './machine.js';
import { addPvTools, freshInstall, type WindowsState } from './state.js';
import { WindowsGuest, guestDir, type GuestPorts } from './windowsGuest.js';

export interface AttachOptions {
  stateDir: string;
  /** The scenario's `guests` section. */
  guests?: unknown;
  /** The scenario's `faults.guest` list. */
  faults?: unknown;
  log?: Logger;
  /** WinRM ports; 5985/5986 as on Windows, 0 = any free port (parallel test labs share 127.77.x.y addresses). */
  ports?: Partial<GuestPorts>;
}

export interface GuestInfo {
  vm: string;
  vmRef: string;
  address: string;
  port: number;
  https: boolean;
  username: string;
  /** Only for pre-installed lab guests (the lab knows their password); engine-built guests: the engine's secret. */
  password?: string;
}

export interface WindowsGuests {
  guests(): GuestInfo[];
  guest(vmRef: string): WindowsGuest | undefined;
  inject(fault: GuestFaultInput): void;
  stop(): Promise<void>;
}

// The lab's own password maker (not the product's, whose output the lab's policy check judges): characters
// neither cmd.exe nor an answer file interprets, kept only once Windows' complexity policy accepts them.
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$*+-=?@_';

function labAdministratorPassword(): string {
  for (;;) {
    // Bytes past the last whole multiple of the alphabet are skipped, so every character is equally likely.
    const unbiased = [...randomBytes(64)].filter((b) => b < 256 - (256 % PASSWORD_ALPHABET.length));
    const password = unbiased
      .slice(0, 24)
      .map((b) => PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]!)
      .join('');
    if (password.length < 24) continue;
    if (WindowsMachine.meetsPolicy('Administrator', password)) return password;
  }
}

function matches(f: GuestFault, vm: LabVmView): boolean {
  return f.vm === undefined || f.vm === vm.nameLabel || f.vm === vm.ref || f.vm === vm.uuid;
}

export async function attachWindowsGuests(host: LabHostApi, options: AttachOptions): Promise<WindowsGuests> {
  const log = (options.log ?? rootLog()).child({ component: 'windows-guests' });
  const { guests: scenario, faults } = parseGuestScenario(options.guests, options.faults);
  const ports: GuestPorts = { http: options.ports?.http ?? 5985, https: options.ports?.https ?? 5986 };
  const preinstalled = new Map<string, PreinstalledWindows & { password: string }>();
  for (const p of scenario.windows) {
    const secrets = new SecretResolver({
      dir: process.env.XENIMAGE_SECRETS_DIR ?? path.join(options.stateDir, 'secrets'),
    });
    const password = p.adminPassword
      ? await secrets.resolve(p.adminPassword, 'build-input')
      : labAdministratorPassword();
    registerSecretValue(password);
    preinstalled.set(p.vm, { ...p, password });
  }
  const guests = new Map<string, WindowsGuest>();

  const preinstall = (vm: LabVmView): WindowsState | undefined => {
    const p = preinstalled.get(vm.nameLabel);
    if (!p) return undefined;
    const state = freshInstall({
      computerName: p.computerName,
      image: { index: 1, name: p.image },
      firmware: p.firmware,
      timeZone: 'UTC',
      uiLanguage: 'en-US',
      adminPassword: p.password,
      seed: vm.uuid,
    });
    state.setupPhase = 'complete';
    state.services.winrm!.startType = 'AUTO_START';
    state.winrm = {
      http: true,
      httpsThumbprint: null,
      basic: true,
      allowUnencrypted: p.winrm.transport === 'http',
      firewall: [5985],
    };
    if (p.pvTools) addPvTools(state, 'managementagentx64.msi');
    return state;
  };

  const guestFor = (vm: LabVmView): WindowsGuest => {
    let g = guests.get(vm.ref);
    if (!g) {
      g = new WindowsGuest(host, vm.ref, {
        guestDir: guestDir(options.stateDir, vm.uuid),
        ports,
        log,
        preinstall,
        updateCatalog: scenario.updateCatalog,
      });
      for (const f of faults) if (matches(f, vm)) g.inject(f);
      guests.set(vm.ref, g);
    }
    return g;
  };

  const unsubscribe = host.onPowerEvent((e) => guestFor(e.vm).onPower(e));
  for (const vm of host.listVms()) {
    const g = guestFor(vm);
    if (vm.powerState === 'Running') void g.start();
  }
  log.info(
    { guests: guests.size, preinstalled: [...preinstalled.keys()], stateDir: path.resolve(options.stateDir) },
    'simulated Windows guests attached',
  );

  return {
    guests() {
      const out: GuestInfo[] = [];
      for (const g of guests.values()) {
        const vm = g.vm;
        const w = g.winrm;
        if (!vm || !w) continue;
        const p = preinstalled.get(vm.nameLabel);
        out.push({
          vm: vm.nameLabel,
          vmRef: vm.ref,
          address: w.address,
          port: w.port,
          https: w.https,
          username: 'Administrator',
          ...(p ? { password: p.password } : {}),
        });
      }
      return out;
    },
    guest: (vmRef) => guests.get(vmRef),
    inject(input) {
      const f = GuestFaultSchema.parse(input);
      for (const vm of host.listVms()) if (matches(f, vm)) guestFor(vm).inject(f);
    },
    async stop() {
      unsubscribe();
      await Promise.all([...guests.values()].map((g) => g.powerOff()));
    },
  };
}
