// The guest's addresses as its PV agent reports them in VM_guest_metrics.networks ("<vif>/ip", "<vif>/ipv4/<n>",
// "<vif>/ipv6/<n>"), and the one the worker reaches it at. Addresses move: DHCP without a reservation gives a new
// one at every boot, so the address is read again after every reboot and revert, never kept
// (docs/reference/windows-current.md).

export interface GuestAddress {
  /** The VIF's device number ("0" is the build network). */
  device: string;
  family: 'ipv4' | 'ipv6';
  address: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Every address in a guest metrics `networks` map, VIF by VIF, in the agent's order, without duplicates. */
export function guestAddresses(networks: Record<string, string>): GuestAddress[] {
  const out: GuestAddress[] = [];
  const seen = new Set<string>();
  const keyed = Object.entries(networks)
    .map(([key, address]) => ({ m: /^(\d+)\/(ip|ipv4\/(\d+)|ipv6\/(\d+))$/.exec(key), address }))
    .filter((e): e is { m: RegExpExecArray; address: string } => e.m !== null && e.address.trim() !== '')
    .sort((a, b) => Number(a.m[1]) - Number(b.m[1]) || Number(a.m[3] ?? a.m[4] ?? -1) - Number(b.m[3] ?? b.m[4] ?? -1));
  for (const { m, address } of keyed) {
    const value = address.trim();
    const family = IPV4.test(value) ? 'ipv4' : value.includes(':') ? 'ipv6' : undefined;
    if (!family || seen.has(`${m[1]}|${value}`)) continue;
    seen.add(`${m[1]}|${value}`);
    out.push({ device: m[1]!, family, address: value });
  }
  return out;
}

/** 169.254/16 is what Windows takes before DHCP answers; fe80::/10 needs a zone and is never the way in. */
function linkLocal(a: GuestAddress): boolean {
  return a.family === 'ipv4' ? a.address.startsWith('169.254.') : /^fe[89ab][0-9a-f]:/i.test(a.address);
}

/** Unique local IPv6 (fc00::/7): often not routed to the worker, so the last choice. */
function uniqueLocal(a: GuestAddress): boolean {
  return a.family === 'ipv6' && /^f[cd][0-9a-f]{2}:/i.test(a.address);
}

/**
 * The address to reach the guest at on VIF `device` (the build network): its first IPv4 that is not link-local,
 * else a global IPv6, else a unique local one. Other VIFs are other networks, not the worker's way in.
 */
export function reachableAddress(addresses: readonly GuestAddress[], device = '0'): string | undefined {
  const usable = addresses.filter((a) => a.device === device && !linkLocal(a));
  const pick =
    usable.find((a) => a.family === 'ipv4') ??
    usable.find((a) => a.family === 'ipv6' && !uniqueLocal(a)) ??
    usable.find((a) => a.family === 'ipv6');
  return pick?.address;
}
