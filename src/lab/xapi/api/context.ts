// What every API implementation receives: the lab's shared state and services, and the call's own context.
import type { Logger } from '../../../log.js';
import type { LabHostApi, LabVmView, PowerEventKind } from '../../hostApi.js';
import type { Database } from '../db/database.js';
import type { FaultPlan } from '../faults.js';
import type { ProductProfile } from '../setup/products.js';
import type { VdiStore } from '../storage/vdiStore.js';
import type { TaskManager } from './tasks.js';
import type { SessionManager } from './sessions.js';

/**
 * The host side the simulated guests see (lifecycle/guestBridge.ts implements it), plus the announcement of power
 * changes made through XAPI. Declared here so the lifecycle code and the API share one contract without importing
 * each other.
 */
export interface GuestHost extends LabHostApi {
  /** Tells the guests about a power change (kind undefined: nothing a guest sees, e.g. a paused start). */
  emit(kind: PowerEventKind | undefined, cause: 'api' | 'guest', vmRef: string, hard?: boolean): void;
}

export interface LabCore {
  readonly db: Database;
  readonly tasks: TaskManager;
  readonly sessions: SessionManager;
  readonly vdis: VdiStore;
  readonly guests: GuestHost;
  readonly faults: FaultPlan;
  readonly log: Logger;
  readonly poolRef: string;
  /** What the pool is (software versions, restrictions, the VTPM class). */
  readonly product: ProductProfile;
  /** The master host's ref (pool.master). */
  masterRef(): string;
  /** Wall-clock latency scaled by the speed factor. */
  scaled(ms: number): number;
  /** Sleeps a scaled latency; rejects when `signal` aborts. */
  delay(ms: number, signal?: AbortSignal): Promise<void>;
  /** A fresh domain id (≥ 1, never reused while the lab's state lives). */
  nextDomid(): number;
  /** The loopback address of a VM's current boot (allocated on first use; kept across restarts). */
  vmAddress(vmRef: string): string;
  /** The further addresses of the VM's current boot: its other VIFs, and IPv6 when the scenario asks. */
  vmExtraAddresses(vmRef: string): LabVmView['extraAddresses'][number][];
  /** A new domain of the VM: with per-boot addresses, its addresses are given anew. */
  renewVmAddresses(vmRef: string): void;
  /** Forgets lab-private data of a destroyed VM. */
  forgetVm(vmRef: string): void;
  /** The address clients use for a host (HOST_IS_SLAVE's parameter, 302 targets). */
  hostAddress(hostRef: string): string;
  /** Makes another host the pool master (pool.designate_new_master, or the hostIsSlave fault). */
  designateMaster(hostRef: string): void;
  /** Hosts of the pool, master first. */
  hostRefs(): string[];
  /** Aborted when the lab stops (ends long polls and stalled answers). */
  readonly stopping: AbortSignal;
}

export interface CallContext {
  readonly core: LabCore;
  /** The caller's session ref (validated), or '' for session-less calls. */
  readonly session: string;
  /** The task the call runs in (Async calls and HTTP handlers). */
  readonly task?: string;
  /** Aborted when the call's task is cancelled. */
  readonly signal: AbortSignal;
  /** The host whose listener received the call. */
  readonly via: string;
}

export type Handler = (ctx: CallContext, args: unknown[]) => unknown;

/** A handler result whose wire type is not the datamodel's declared result type (event.from's batch). */
export class Typed {
  constructor(
    readonly value: unknown,
    readonly type: import('../datamodel/types.js').XType,
  ) {}
}
