// The simulated Windows Firewall's named rules, kept where Windows keeps them: one REG_SZ value per rule under
// FirewallPolicy\FirewallRules, named by the rule's ID, its data the rule string
// ("v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=5986|Name=…|"). The open inbound ports the WinRM
// listeners check (state.winrm.firewall) follow the active allow rules.
import { randomUUID } from 'node:crypto';
import type { WindowsMachine } from '../machine.js';

export const FIREWALL_RULES_KEY =
  'HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules';

export interface FirewallRule {
  /** The rule's Name (its ID: a GUID for rules made without -Name). */
  id: string;
  displayName: string;
  active: boolean;
  ports: number[];
}

function parseRule(id: string, data: string): FirewallRule {
  const fields = new Map<string, string>();
  for (const part of data.split('|').slice(1)) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return {
    id,
    displayName: fields.get('Name') ?? id,
    active: fields.get('Active') !== 'FALSE',
    ports: (fields.get('LPort') ?? '')
      .split(',')
      .map(Number)
      .filter((n) => n > 0),
  };
}

function ruleString(r: FirewallRule): string {
  return `v2.30|Action=Allow|Active=${r.active ? 'TRUE' : 'FALSE'}|Dir=In|Protocol=6|LPort=${r.ports.join(',')}|Name=${r.displayName}|`;
}

export function firewallRules(m: WindowsMachine): FirewallRule[] {
  return Object.entries(m.regValues(FIREWALL_RULES_KEY) ?? {}).map(([id, v]) => parseRule(id, String(v.data)));
}

/** Records an inbound allow rule (netsh add rule, New-NetFirewallRule, Enable-PSRemoting's built-in rule). */
export function recordFirewallRule(m: WindowsMachine, r: { id?: string; displayName: string; ports: number[] }): void {
  const rule: FirewallRule = {
    id: r.id ?? `{${randomUUID().toUpperCase()}}`,
    displayName: r.displayName,
    active: true,
    ports: r.ports,
  };
  m.regSet(FIREWALL_RULES_KEY, rule.id, { type: 'REG_SZ', data: ruleString(rule) });
}

/** Removes or disables the rules `match` selects; a port closes when no active rule still opens it. */
export function changeFirewallRules(
  m: WindowsMachine,
  match: (r: FirewallRule) => boolean,
  how: 'remove' | 'disable' | 'enable',
): FirewallRule[] {
  const hits = firewallRules(m).filter(match);
  const values = m.regValues(FIREWALL_RULES_KEY) ?? {};
  for (const r of hits) {
    if (how === 'remove') delete values[r.id];
    else values[r.id] = { type: 'REG_SZ', data: ruleString({ ...r, active: how === 'enable' }) };
  }
  const open = new Set(
    firewallRules(m)
      .filter((r) => r.active)
      .flatMap((r) => r.ports),
  );
  const touched = new Set(hits.flatMap((r) => r.ports));
  m.state.winrm.firewall = [
    ...m.state.winrm.firewall.filter((p) => !touched.has(p) || open.has(p)),
    ...[...open].filter((p) => touched.has(p) && !m.state.winrm.firewall.includes(p)),
  ];
  return hits;
}
