// The lab's shared state and services (LabCore): the database, tasks, sessions, VDI storage, the guest bridge,
// the fault plan, the speed factor, per-VM loopback addresses and domids, and the persistence of all of it in
// <stateDir>/xapi/state.json (written atomically, debounced; sessions and tasks are not kept, as in XAPI).
import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { LabVmView } from '../hostApi.js';
import type { LabCore } from './api/context.js';
import { SessionManager, type Credentials } from './api/sessions.js';
import { TaskCancelledError, TaskManager } from './api/tasks.js';
import { Database, type PersistedDatabase } from './db/database.js';
import type { FaultPlan } from './faults.js';
import { GuestBridge } from './lifecycle/guestBridge.js';
import type { ProductProfile } from './setup/products.js';
import { writeFileAtomic } from '../../fs/atomicFile.js';
import { VdiStore } from './storage/vdiStore.js';

export const STATE_VERSION = 2;

/** A further address of a VM's boot (another VIF, or IPv6), as guests see it (LabVmView.extraAddresses). */
export type ExtraAddress = LabVmView['extraAddresses'][number];

/** Lab-private facts that are not XAPI fields but must survive a restart. */
export interface PrivateState {
  /** The scenario the state was made by. */
  scenario: string;
  /** Scenarios applied to the state since it was made, in order (docs/lab.md, "Scenarios on existing state"). */
  applied: string[];
  /** The product the pool is (fixed when the state is made). */
  product: string;
  /** Port of the hosts' plain HTTP listeners. */
  port: number;
  /** Port of the hosts' HTTPS listeners (0: not chosen yet). */
  httpsPort: number;
  credentials: Credentials;
  nextDomid: number;
  /** VM ref → its loopback address (of its first VIF) for the current boot. */
  addresses: Record<string, string>;
  /** VM ref → the addresses of its further VIFs and its IPv6 addresses, for the current boot. */
  extraAddresses: Record<string, ExtraAddress[]>;
  /** Where the next address search starts in the lab's /24 (so a renewed address differs from the last one). */
  nextAddress: number;
  nextIpv6: number;
  /** "127.A.B": the /24 this lab's VMs live in, derived from the lab's first port so labs running side by side differ. */
  addressBase: string;
  /** host ref → the address its listener binds. */
  hostAddresses: Record<string, string>;
}

export interface LabStateFile {
  version: number;
  poolRef: string;
  private: PrivateState;
  db: PersistedDatabase;
}

export function stateFile(xapiDir: string): string {
  return path.join(xapiDir, 'state.json');
}

/** State of version 1 kept the root password in clear: it is replaced by its hash (the password is returned). */
interface StateV1Private extends Omit<PrivateState, 'credentials' | 'applied' | 'product' | 'httpsPort'> {
  credentials: { username: string; password: string };
}

export interface LoadedState {
  state: LabStateFile;
  /** The clear password found in a version-1 state (to be written to the password file once, then forgotten). */
  migratedPassword?: string;
}

export async function readStateFile(
  xapiDir: string,
  hash: (password: string) => Promise<string>,
): Promise<LoadedState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(xapiDir), 'utf8');
  } catch {
    return undefined;
  }
  const data = JSON.parse(text) as LabStateFile | (Omit<LabStateFile, 'private'> & { private: StateV1Private });
  if (data.version === 1) {
    const old = data.private as StateV1Private;
    const { password, username } = old.credentials;
    const migrated: PrivateState = {
      ...old,
      applied: [],
      product: 'xenserver-8',
      httpsPort: 0,
      credentials: { username, passwordHash: await hash(password) },
      extraAddresses: {},
      nextIpv6: 1,
    };
    return { state: { ...data, version: STATE_VERSION, private: migrated }, migratedPassword: password };
  }
  if (data.version !== STATE_VERSION)
    throw new Error(`lab state ${stateFile(xapiDir)} has version ${data.version}, expected ${STATE_VERSION}`);
  return { state: data as LabStateFile };
}

/** The /24 of a lab's VM addresses: 127.A.B with A.B the 16 bits of its first port (never 127.0.0, the hosts'). */
export function addressBaseFor(port: number): string {
  const a = (port >> 8) & 255;
  return `127.${a === 0 ? 200 : a}.${port & 255}`;
}

export interface CoreOptions {
  xapiDir: string;
  product: ProductProfile;
  /** How VMs get addresses (the running scenario's `vmAddresses`). */
  vmAddresses: { perBoot: boolean; ipv6: boolean };
  poolRef: string;
  speed: number;
  log: Logger;
  faults: FaultPlan;
  privateState: PrivateState;
  sessionIdleTimeoutMs: number;
}

export class XapiLabCore implements LabCore {
  readonly db = new Database();
  readonly tasks: TaskManager;
  readonly sessions: SessionManager;
  readonly vdis: VdiStore;
  readonly guests = new GuestBridge();
  readonly faults: FaultPlan;
  readonly log: Logger;
  readonly poolRef: string;
  readonly private: PrivateState;
  readonly product: ProductProfile;
  private readonly vmAddressPolicy: { perBoot: boolean; ipv6: boolean };
  private readonly xapiDir: string;
  private readonly speed: number;
  private readonly stopController = new AbortController();
  private persistTimer: NodeJS.Timeout | undefined;
  private persistChain: Promise<void> = Promise.resolve();
  private persistEnabled = false;

  constructor(options: CoreOptions) {
    // Every pending delay and event.from listens for the lab stopping (and removes itself when done): a lab serving
    // dozens of builds has hundreds at once, which is no leak.
    setMaxListeners(0, this.stopController.signal);
    this.xapiDir = options.xapiDir;
    this.product = options.product;
    this.vmAddressPolicy = options.vmAddresses;
    this.poolRef = options.poolRef;
    this.speed = options.speed;
    this.log = options.log;
    this.faults = options.faults;
    this.private = options.privateState;
    this.vdis = new VdiStore(path.join(options.xapiDir, 'srs'));
    this.tasks = new TaskManager(this.db, () => this.masterRef());
    this.sessions = new SessionManager(
      this.db,
      options.privateState.credentials,
      () => this.masterRef(),
      options.sessionIdleTimeoutMs,
    );
    this.guests.attach(this);
    this.db.onWrite(() => this.schedulePersist());
  }

  get stopping(): AbortSignal {
    return this.stopController.signal;
  }

  masterRef(): string {
    return (this.db.get('pool', this.poolRef)?.master as string | undefined) ?? 'OpaqueRef:NULL';
  }

  hostRefs(): string[] {
    const master = this.masterRef();
    return [
      master,
      ...this.db
        .rows('host')
        .map(([ref]) => ref)
        .filter((r) => r !== master),
    ];
  }

  hostAddress(hostRef: string): string {
    return this.private.hostAddresses[hostRef] ?? (this.db.get('host', hostRef)?.address as string) ?? '';
  }

  designateMaster(hostRef: string): void {
    this.db.require('host', hostRef);
    this.db.set('pool', this.poolRef, { master: hostRef });
    this.log.info({ master: hostRef }, 'pool master changed');
  }

  scaled(ms: number): number {
    return Math.max(0, ms * this.speed);
  }

  delay(ms: number, signal?: AbortSignal): Promise<void> {
    const wait = this.scaled(ms);
    return new Promise((resolve, reject) => {
      const aborted = () => signal?.aborted || this.stopping.aborted;
      if (aborted())
        return reject(signal?.reason instanceof Error ? signal.reason : new TaskCancelledError('cancelled'));
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.aborted && signal.reason instanceof Error ? signal.reason : new TaskCancelledError('cancelled'));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        this.stopping.removeEventListener('abort', onAbort);
        resolve();
      }, wait);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.stopping.addEventListener('abort', onAbort, { once: true });
    });
  }

  nextDomid(): number {
    const id = this.private.nextDomid;
    this.private.nextDomid += 1;
    this.schedulePersist();
    return id;
  }

  /** Every IPv4 address a VM holds now. */
  private addressesInUse(): Set<string> {
    const used = new Set(Object.values(this.private.addresses));
    for (const list of Object.values(this.private.extraAddresses))
      for (const a of list) if (a.family === 'ipv4') used.add(a.address);
    return used;
  }

  /** The next free address of the lab's /24, searched round-robin from the last one given. */
  private allocateIpv4(): string {
    const used = this.addressesInUse();
    for (let i = 0; i < 254; i++) {
      const n = ((this.private.nextAddress - 1 + i) % 254) + 1;
      const address = `${this.private.addressBase}.${n}`;
      if (used.has(address)) continue;
      this.private.nextAddress = (n % 254) + 1;
      return address;
    }
    throw new Error(`the lab's address range ${this.private.addressBase}.0/24 is full`);
  }

  private allocateIpv6(): string {
    const n = this.private.nextIpv6;
    this.private.nextIpv6 += 1;
    // A unique local address (RFC 4193) under the lab's own /64: unique, never routed to from the host.
    const [, a = '0', b = '0'] = this.private.addressBase.split('.');
    return `fd58:656e:6c61:${((Number(a) << 8) | Number(b)).toString(16)}::${n.toString(16)}`;
  }

  /** VIF devices of a VM, numerically ordered ("0" when it has none: the address is the VM's all the same). */
  private vifDevices(vmRef: string): string[] {
    const vm = this.db.get('VM', vmRef);
    const devices = ((vm?.VIFs as string[] | undefined) ?? [])
      .map((v) => this.db.get('VIF', v)?.device as string | undefined)
      .filter((d): d is string => d !== undefined)
      .sort((x, y) => Number(x) - Number(y));
    return devices.length ? devices : ['0'];
  }

  vmAddress(vmRef: string): string {
    let address = this.private.addresses[vmRef];
    if (!address) {
      address = this.allocateIpv4();
      this.private.addresses[vmRef] = address;
      this.schedulePersist();
    }
    return address;
  }

  vmExtraAddresses(vmRef: string): ExtraAddress[] {
    const [first, ...others] = this.vifDevices(vmRef);
    const current = this.private.extraAddresses[vmRef] ?? [];
    const wanted: Array<Omit<ExtraAddress, 'address'>> = [
      ...others.map((device) => ({ device, family: 'ipv4' as const })),
      ...(this.vmAddressPolicy.ipv6 ? [first!, ...others].map((device) => ({ device, family: 'ipv6' as const })) : []),
    ];
    const next = wanted.map(
      (w) =>
        current.find((c) => c.device === w.device && c.family === w.family) ?? {
          ...w,
          address: w.family === 'ipv4' ? this.allocateIpv4() : this.allocateIpv6(),
        },
    );
    if (JSON.stringify(next) !== JSON.stringify(current)) {
      this.private.extraAddresses[vmRef] = next;
      this.schedulePersist();
    }
    return next;
  }

  /** A new domain of the VM: with per-boot addresses, every address of the VM is given anew (as DHCP would). */
  renewVmAddresses(vmRef: string): void {
    if (!this.vmAddressPolicy.perBoot) return;
    const old = new Set([
      this.private.addresses[vmRef],
      ...(this.private.extraAddresses[vmRef] ?? []).map((a) => a.address),
    ]);
    delete this.private.addresses[vmRef];
    delete this.private.extraAddresses[vmRef];
    // The search starts after the last address given, so the new one differs while the range has room.
    let address = this.allocateIpv4();
    if (old.has(address)) address = this.allocateIpv4();
    this.private.addresses[vmRef] = address;
    this.vmExtraAddresses(vmRef);
    this.schedulePersist();
  }

  forgetVm(vmRef: string): void {
    delete this.private.addresses[vmRef];
    delete this.private.extraAddresses[vmRef];
    this.schedulePersist();
  }

  /** Starts writing state.json after changes (off while the lab is being built or loaded). */
  enablePersistence(): void {
    this.persistEnabled = true;
    this.schedulePersist();
  }

  private schedulePersist(): void {
    if (!this.persistEnabled || this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      void this.persist();
    }, 100);
  }

  /** Writes state.json now (serialized with any write in flight). */
  persist(): Promise<void> {
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
    }
    const snapshot: LabStateFile = {
      version: STATE_VERSION,
      poolRef: this.poolRef,
      private: structuredClone(this.private),
      db: this.db.persist(),
    };
    this.persistChain = this.persistChain
      .then(() => writeFileAtomic(stateFile(this.xapiDir), JSON.stringify(snapshot)))
      .catch((err: unknown) => this.log.error({ err }, 'writing the lab state failed'));
    return this.persistChain;
  }

  /** Ends long polls (they answer with what they have) and pending delays. */
  beginShutdown(): void {
    this.stopController.abort();
  }

  /** Writes the final state. */
  async shutdown(): Promise<void> {
    this.stopController.abort();
    await this.vdis.flush();
    if (this.persistEnabled) await this.persist();
    this.persistEnabled = false;
  }
}
