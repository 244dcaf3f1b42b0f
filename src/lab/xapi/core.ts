// The lab's shared state and services (LabCore): the database, tasks, sessions, VDI storage, the guest bridge,
// the fault plan, the speed factor, per-VM loopback addresses and domids, and the persistence of all of it in
// <stateDir>/xapi/state.json (written atomically, debounced; sessions and tasks are not kept, as in XAPI).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { LabCore } from './api/context.js';
import { SessionManager, type Credentials } from './api/sessions.js';
import { TaskCancelledError, TaskManager } from './api/tasks.js';
import { Database, type PersistedDatabase } from './db/database.js';
import type { FaultPlan } from './faults.js';
import { GuestBridge } from './lifecycle/guestBridge.js';
import { writeFileAtomic } from '../../fs/atomicFile.js';
import { VdiStore } from './storage/vdiStore.js';

export const STATE_VERSION = 1;

/** Lab-private facts that are not XAPI fields but must survive a restart. */
export interface PrivateState {
  scenario: string;
  port: number;
  credentials: Credentials;
  nextDomid: number;
  /** VM ref → its loopback address. */
  addresses: Record<string, string>;
  nextAddress: number;
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

export async function readStateFile(xapiDir: string): Promise<LabStateFile | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(xapiDir), 'utf8');
  } catch {
    return undefined;
  }
  const data = JSON.parse(text) as LabStateFile;
  if (data.version !== STATE_VERSION)
    throw new Error(`lab state ${stateFile(xapiDir)} has version ${data.version}, expected ${STATE_VERSION}`);
  return data;
}

/** The /24 of a lab's VM addresses: 127.A.B with A.B the 16 bits of its first port (never 127.0.0, the hosts'). */
export function addressBaseFor(port: number): string {
  const a = (port >> 8) & 255;
  return `127.${a === 0 ? 200 : a}.${port & 255}`;
}

export interface CoreOptions {
  xapiDir: string;
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
  private readonly xapiDir: string;
  private readonly speed: number;
  private readonly stopController = new AbortController();
  private persistTimer: NodeJS.Timeout | undefined;
  private persistChain: Promise<void> = Promise.resolve();
  private persistEnabled = false;

  constructor(options: CoreOptions) {
    this.xapiDir = options.xapiDir;
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

  vmAddress(vmRef: string): string {
    let address = this.private.addresses[vmRef];
    if (!address) {
      const n = this.private.nextAddress;
      // 254 VMs per lab in its own /24; beyond that a shared overflow range.
      address = n <= 254 ? `${this.private.addressBase}.${n}` : `127.77.${(n >> 8) & 255}.${n & 255}`;
      this.private.nextAddress += 1;
      this.private.addresses[vmRef] = address;
      this.schedulePersist();
    }
    return address;
  }

  forgetVm(vmRef: string): void {
    delete this.private.addresses[vmRef];
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
