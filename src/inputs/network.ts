// Where a workflow input may connect: http(s) URLs without credentials, to public addresses or the networks the
// configuration allows, checked on the URL, after DNS (a lookup hook on the connection, so the address checked is
// the address connected to) and after every redirect (followed by hand, at most five, never https → http).
// Decision: docs/decisions/inputs-0001-where-inputs-may-read-and-connect.md.
import dns from 'node:dns';
import net, { type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch, Headers, type HeadersInit, type RequestInit, type Response } from 'undici';
import { blockListOf, NON_PUBLIC } from './cidr.js';
import { InputRefusedError } from './errors.js';
import type { InputPolicy } from './policy.js';

const nonPublic = blockListOf(NON_PUBLIC);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 5;

/** The URL without credentials, query or fragment: safe for logs and messages. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export function addressAllowed(address: string, policy: Pick<InputPolicy, 'allowedNetworks'>): boolean {
  const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return policy.allowedNetworks.check(address, family) || !nonPublic.check(address, family);
}

function refuseAddress(what: string, host: string, address: string, policy: InputPolicy): never {
  const allowed = policy.allowedCidrs.length ? ` or ${policy.allowedCidrs.join(', ')}` : '';
  throw new InputRefusedError(
    'address not allowed',
    `${what}: ${host === address ? address : `${host} (${address})`} is not a public address${allowed}; inputs may not connect there (network.allow)`,
    { address },
  );
}

/** Parses and checks a URL an input names (scheme, credentials, a literal address); DNS comes at connect time. */
export function checkUrl(text: string, policy: InputPolicy, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputRefusedError('url scheme', `${what}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputRefusedError('url scheme', `${what}: ${url.protocol} URLs are not allowed (http or https only)`);
  }
  if (url.username || url.password) {
    throw new InputRefusedError(
      'url credentials',
      `${what}: ${displayUrl(url)} carries credentials in the URL; remove them (authentication is by secret reference)`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) && !addressAllowed(host, policy)) refuseAddress(what, host, host, policy);
  return url;
}

/** A dns.lookup that refuses a name resolving to an address the policy does not allow (any of its addresses). */
export function guardedLookup(policy: InputPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const refused = addresses.find((a) => !addressAllowed(a.address, policy));
      if (refused) {
        try {
          refuseAddress(hostname, hostname, refused.address, policy);
        } catch (e) {
          return callback(e as Error, '', 0);
        }
      }
      if ((options as { all?: boolean }).all)
        return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

/** Resolves a URL's host now and checks every address (a check step before anything is created). */
export async function checkUrlReachable(text: string, policy: InputPolicy, what: string): Promise<URL> {
  const url = checkUrl(text, policy, what);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) return url;
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true });
  } catch (err) {
    throw new InputRefusedError(
      'missing',
      `${what}: ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  for (const a of addresses) if (!addressAllowed(a.address, policy)) refuseAddress(what, host, a.address, policy);
  return url;
}

/** The policy's refusal inside a failed fetch (undici wraps connector errors in "fetch failed"). */
function refusalIn(err: unknown): InputRefusedError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    if (e instanceof InputRefusedError) return e;
  return undefined;
}

/** Where a redirect from `from` may go: a URL the policy allows, never from https to http. */
export function redirectTarget(from: URL, location: string, policy: InputPolicy): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new InputRefusedError('url scheme', `${displayUrl(from)}: redirect to something that is not a URL`);
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw new InputRefusedError(
      'insecure redirect',
      `${displayUrl(from)}: redirect from https to http (${displayUrl(next)}) refused`,
    );
  }
  return checkUrl(next.href, policy, `${displayUrl(from)} redirects to ${displayUrl(next)}`);
}

export type GuardedFetch = (url: URL | string, init?: RequestInit) => Promise<Response>;

/**
 * fetch for URLs an input names: every hop checked by `checkUrl`, every connection's address by the lookup hook,
 * redirects followed by hand (at most MAX_REDIRECTS, never from https to http, credentials dropped when the origin
 * changes).
 */
export function guardedFetch(policy: InputPolicy): GuardedFetch {
  const dispatcher = new Agent({ connect: { lookup: guardedLookup(policy) } });
  return async (input, init = {}) => {
    let url = checkUrl(String(input), policy, 'URL');
    let headers = new Headers(init.headers as HeadersInit | undefined);
    for (let hop = 0; ; hop++) {
      let res: Response;
      try {
        res = await undiciFetch(url, { ...init, headers, redirect: 'manual', dispatcher });
      } catch (err) {
        throw refusalIn(err) ?? err;
      }
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || !location) return res;
      await res.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) {
        throw new InputRefusedError('too many redirects', `${displayUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
      }
      const next = redirectTarget(url, location, policy);
      if (next.origin !== url.origin) {
        headers = new Headers(headers);
        headers.delete('authorization');
        headers.delete('cookie');
      }
      url = next;
    }
  };
}
