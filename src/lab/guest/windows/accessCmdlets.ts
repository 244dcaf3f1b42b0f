// Cmdlets of the simulated Windows for the access settings a build adds and removes (docs/decisions/
// windows-0007-clean-image.md): WinRM listeners as WS-Management instances, certificates in Cert:\LocalMachine\My,
// registry values, named firewall rules. The interpreter merges these with its own cmdlets (ps/cmdlets.ts);
// remove-item and test-path handle Cert:\ paths here and pass every other path to the interpreter's own.
import { WindowsMachine } from '../machine.js';
import { CMDLETS } from '../ps/cmdlets.js';
import {
  PsError,
  commandClass,
  toStr,
  type BoundArgs,
  type CmdletContext,
  type CmdletDef,
  type PsObject,
} from '../ps/run.js';
import { cbsRebootPending } from './servicing.js';
import { changeFirewallRules, firewallRules, type FirewallRule } from './firewall.js';

const LISTENER_URI = /^(http:\/\/schemas\.microsoft\.com\/wbem\/wsman\/1\/config\/listener|winrm\/config\/listener)$/i;
const CERT_PATH = /^Cert:\\LocalMachine\\My\\([0-9A-Fa-f]{40})$/i;

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(toStr);
}

function listenerUri(a: BoundArgs, key: string): void {
  const uri = a.str('ResourceURI') ?? '';
  if (!LISTENER_URI.test(uri))
    throw new PsError(`The WS-Management service cannot process the request. The resource URI ${uri} was not found.`, {
      category: 'InvalidOperation',
      reason: 'InvalidOperationException',
      fqid: `WsManError,${commandClass(key)}`,
      target: '',
    });
}

function listeners(m: WindowsMachine): PsObject[] {
  const out: PsObject[] = [];
  if (m.state.winrm.http)
    out.push({ __type: 'System.Xml.XmlElement', Address: '*', Transport: 'HTTP', Port: '5985', Enabled: 'true' });
  if (m.state.winrm.httpsThumbprint)
    out.push({
      __type: 'System.Xml.XmlElement',
      Address: '*',
      Transport: 'HTTPS',
      Port: '5986',
      CertificateThumbprint: m.state.winrm.httpsThumbprint,
      Enabled: 'true',
    });
  return out;
}

function ruleObject(r: FirewallRule): PsObject {
  return { __type: 'NetFirewallRule', Name: r.id, DisplayName: r.displayName, Enabled: r.active ? 'True' : 'False' };
}

/** The rules named by -Name / -DisplayName (wildcards as PowerShell takes them) or piped in; none found is an error. */
function selectRules(a: BoundArgs, c: CmdletContext, key: string): FirewallRule[] {
  const like = (pattern: string) =>
    new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$', 'i');
  const names = list(a.get('Name')).map(like);
  const displayNames = list(a.get('DisplayName')).map(like);
  const piped = (c.input ?? []).map((o) => toStr((o as PsObject).Name));
  const hits = firewallRules(c.m).filter(
    (r) => names.some((n) => n.test(r.id)) || displayNames.some((d) => d.test(r.displayName)) || piped.includes(r.id),
  );
  if (hits.length === 0 && (names.length > 0 || displayNames.length > 0))
    throw new PsError(
      `No MSFT_NetFirewallRule objects found with property '${names.length ? 'InstanceID' : 'DisplayName'}' equal to '${list(a.get(names.length ? 'Name' : 'DisplayName')).join(', ')}'.  Verify the value of the property and retry.`,
      {
        category: 'ObjectNotFound',
        reason: 'CimJobException',
        fqid: `CmdletizationQuery_NotFound_${names.length ? 'Name' : 'DisplayName'},${commandClass(key)}`,
        target: '',
      },
    );
  return hits;
}

function firewallCmdlet(how: 'remove' | 'disable' | 'enable' | 'get'): CmdletDef {
  return {
    params: ['Name', 'DisplayName'],
    positional: ['Name'],
    run: async (a, c) => {
      const key = `${how}-netfirewallrule`;
      const hits = selectRules(a, c, key);
      if (how === 'get') return hits.map(ruleObject);
      const ids = new Set(hits.map((r) => r.id));
      changeFirewallRules(c.m, (r) => ids.has(r.id), how);
      await c.m.env.persist();
      return [];
    },
  };
}

// Looked up at call time: the interpreter's modules import each other, so CMDLETS is not there yet at load.
const base = (key: 'remove-item' | 'test-path'): CmdletDef => CMDLETS[key]!;

export const ACCESS_CMDLETS: Record<string, CmdletDef> = {
  'get-wsmaninstance': {
    params: ['ResourceURI', 'SelectorSet'],
    positional: ['ResourceURI'],
    switches: ['Enumerate'],
    run: (a, c) => {
      listenerUri(a, 'get-wsmaninstance');
      return listeners(c.m);
    },
  },
  'remove-wsmaninstance': {
    params: ['ResourceURI', 'SelectorSet'],
    positional: ['ResourceURI', 'SelectorSet'],
    run: async (a, c) => {
      listenerUri(a, 'remove-wsmaninstance');
      const sel = (a.get('SelectorSet') ?? {}) as PsObject;
      const transport = toStr(
        Object.entries(sel).find(([k]) => k.toLowerCase() === 'transport')?.[1] ?? '',
      ).toUpperCase();
      const w = c.m.state.winrm;
      const present = transport === 'HTTP' ? w.http : transport === 'HTTPS' ? w.httpsThumbprint !== null : false;
      if (!present)
        throw new PsError(
          'The WS-Management service cannot find the resource identified by the resource URI and selectors.',
          {
            category: 'InvalidOperation',
            reason: 'InvalidOperationException',
            fqid: 'WsManError,Microsoft.WSMan.Management.RemoveWSManInstanceCommand',
            target: '',
          },
        );
      if (transport === 'HTTP') w.http = false;
      else w.httpsThumbprint = null;
      await c.m.env.persist();
      return [];
    },
  },
  'remove-itemproperty': {
    params: ['Path', 'Name'],
    positional: ['Path', 'Name'],
    run: async (a, c) => {
      const p = a.str('Path') ?? '';
      const name = a.str('Name') ?? '';
      const key = /^HKLM:/i.test(p) ? WindowsMachine.regKey(p) : undefined;
      const values = key ? c.m.regValues(key) : undefined;
      const hit = values && Object.keys(values).find((v) => v.toLowerCase() === name.toLowerCase());
      if (!values || hit === undefined)
        throw new PsError(`Property ${name} does not exist at path ${p}.`, {
          category: 'InvalidArgument',
          reason: 'PSArgumentException',
          fqid: 'System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.RemoveItemPropertyCommand',
          target: name,
        });
      delete values[hit];
      await c.m.env.persist();
      return [];
    },
  },
  'test-path': {
    params: ['Path', 'LiteralPath', 'PathType'],
    positional: ['Path'],
    run: (a, c) => {
      const cert = CERT_PATH.exec(a.str('LiteralPath') ?? a.str('Path') ?? '');
      if (cert) return [c.m.state.certificates[cert[1]!.toUpperCase()] !== undefined];
      if (/^HKLM:\\.*\\Component Based Servicing\\RebootPending$/i.test(a.str('LiteralPath') ?? a.str('Path') ?? ''))
        return [cbsRebootPending(c.m)];
      return base('test-path').run(a, c);
    },
  },
  'remove-item': {
    params: ['Path', 'LiteralPath'],
    positional: ['Path'],
    switches: ['Recurse'],
    run: async (a, c) => {
      const p = a.str('LiteralPath') ?? a.str('Path') ?? '';
      const cert = CERT_PATH.exec(p);
      if (!cert) return base('remove-item').run(a, c);
      const thumb = cert[1]!.toUpperCase();
      if (!c.m.state.certificates[thumb])
        throw new PsError(`Cannot find path '${p}' because it does not exist.`, {
          category: 'ObjectNotFound',
          reason: 'ItemNotFoundException',
          fqid: 'PathNotFound,Microsoft.PowerShell.Commands.RemoveItemCommand',
          target: `${p}:String`,
        });
      // The certificate and its private key leave the store together.
      delete c.m.state.certificates[thumb];
      await c.m.env.persist();
      return [];
    },
  },
  'get-netfirewallrule': firewallCmdlet('get'),
  'remove-netfirewallrule': firewallCmdlet('remove'),
  'disable-netfirewallrule': firewallCmdlet('disable'),
};
