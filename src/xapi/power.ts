// Power operations that are safe to repeat (a retry after the VM already reached the state is a success), and the
// event-driven waits of the build: until the guest agent reports an IP and PV drivers, until the VM halts.
import { XenimageError } from '../errors.js';
import type { XapiConnection, WaitOptions } from './connection.js';
import { hasXapiCode, XapiCallError } from './errors.js';
import { guestAddresses, reachableAddress, type GuestAddress } from './guestAddress.js';
import { assessPvTools, type PvToolsAssessment } from './pvDrivers.js';
import { NULL_REF, type Ref } from './records.js';

export async function startVm(
  conn: XapiConnection,
  vm: Ref,
  signal?: AbortSignal,
): Promise<'started' | 'already-running'> {
  const rec = await conn.fetch('VM', vm);
  if (rec.power_state === 'Running') return 'already-running';
  await conn.callAsync('VM.start', [vm, false, false], { signal });
  return 'started';
}

export class LacksPvDriversError extends XenimageError {
  constructor(vm: Ref, cause: unknown) {
    super(
      'VmLacksPvDrivers',
      `the VM cannot shut down cleanly: no PV drivers or no shutdown feature reported (VM_LACKS_FEATURE ${vm})`,
      { retryable: false, details: { vm }, cause },
    );
  }
}

export function cleanShutdown(
  conn: XapiConnection,
  vm: Ref,
  signal?: AbortSignal,
): Promise<'halted' | 'already-halted'> {
  return shutdown(conn, vm, 'VM.clean_shutdown', signal);
}

export function hardShutdown(
  conn: XapiConnection,
  vm: Ref,
  signal?: AbortSignal,
): Promise<'halted' | 'already-halted'> {
  return shutdown(conn, vm, 'VM.hard_shutdown', signal);
}

async function shutdown(
  conn: XapiConnection,
  vm: Ref,
  method: 'VM.clean_shutdown' | 'VM.hard_shutdown',
  signal?: AbortSignal,
): Promise<'halted' | 'already-halted'> {
  const rec = await conn.fetch('VM', vm);
  if (rec.power_state === 'Halted') return 'already-halted';
  try {
    await conn.callAsync(method, [vm], { signal });
  } catch (err) {
    if (hasXapiCode(err, 'VM_LACKS_FEATURE')) throw new LacksPvDriversError(vm, err); // clean shutdown only
    // Halted meanwhile (the guest shut itself down): the goal is reached.
    if (hasXapiCode(err, 'VM_BAD_POWER_STATE') && (await conn.fetch('VM', vm)).power_state === 'Halted')
      return 'already-halted';
    throw err;
  }
  return 'halted';
}

export interface GuestReport {
  /** Where the worker reaches the guest now (VIF 0: IPv4, else IPv6; docs/reference/windows-current.md). */
  ip: string;
  /** The tools' version and whether they predate the XSA-468 fixes. */
  pvTools: PvToolsAssessment;
  /** Every address the agent reports, all VIFs, IPv4 and IPv6. */
  addresses: GuestAddress[];
  /** The domain the report is from: a reboot makes a new one. */
  domid: number;
  pvDriversVersion: Record<string, string>;
  pvDriversDetected: boolean;
  osVersion: Record<string, string>;
  other: Record<string, string>;
}

export class GuestStoppedError extends XenimageError {
  constructor(vm: Ref, state: string) {
    super('GuestStopped', `the VM stopped (${state}) while waiting for its guest agent`, {
      retryable: false,
      details: { vm, powerState: state },
    });
  }
}

/**
 * Waits (on events) until the running VM's guest agent reports a usable IP and PV drivers; with `otherThanDomid`,
 * only a report of a later domain counts (the guest rebooted since: its address may have moved).
 */
export function waitForGuest(
  conn: XapiConnection,
  vm: Ref,
  options: WaitOptions & { otherThanDomid?: number | undefined },
): Promise<GuestReport> {
  return conn.waitFor((get) => {
    const rec = get('VM', vm);
    if (!rec) throw new XapiCallError('HANDLE_INVALID', ['VM', vm], { method: 'wait for the guest', retryable: false });
    if (rec.power_state !== 'Running') throw new GuestStoppedError(vm, rec.power_state);
    if (rec.guest_metrics === NULL_REF) return undefined;
    if (options.otherThanDomid !== undefined && rec.domid === options.otherThanDomid) return undefined;
    const gm = get('VM_guest_metrics', rec.guest_metrics);
    if (!gm) return undefined;
    const addresses = guestAddresses(gm.networks);
    const ip = reachableAddress(addresses);
    const drivers =
      gm.PV_drivers_detected ||
      (gm.PV_drivers_version.major !== undefined && gm.PV_drivers_version.minor !== undefined);
    if (!ip || !drivers) return undefined;
    return {
      ip,
      addresses,
      domid: rec.domid,
      pvDriversVersion: { ...gm.PV_drivers_version },
      pvTools: assessPvTools(gm.PV_drivers_version),
      pvDriversDetected: gm.PV_drivers_detected,
      osVersion: { ...gm.os_version },
      other: { ...gm.other },
    };
  }, options);
}

/** Waits (on events) until the VM is Halted. */
export function waitForHalt(conn: XapiConnection, vm: Ref, options: WaitOptions): Promise<void> {
  return conn
    .waitFor((get) => {
      const rec = get('VM', vm);
      if (!rec) throw new XapiCallError('HANDLE_INVALID', ['VM', vm], { method: 'wait for halt', retryable: false });
      return rec.power_state === 'Halted' ? true : undefined;
    }, options)
    .then(() => undefined);
}
