// A scenario started on a state folder that already holds a pool: what the scenario adds (hosts, SRs, ISO files,
// networks, templates, VMs — each by name) is applied, and what the state already has stays as the earlier runs
// left it. A scenario that describes another pool (its name, product, root account, or an SR, network or host of
// the same name that is something else) is refused with what differs, before anything is changed.
import type { Scenario } from '../../scenarios/schema.js';
import type { XapiLabCore } from '../core.js';
import { verifyPassword } from '../api/passwordHash.js';
import { addHost, addIsos, addNetwork, addSr, addTemplates, addVm, attachHost, poolRestrictions } from './populate.js';

export interface ScenarioAdditions {
  hosts: string[];
  srs: string[];
  isos: string[];
  networks: string[];
  templates: string[];
  vms: string[];
}

export function nothingAdded(a: ScenarioAdditions): boolean {
  return Object.values(a).every((list: string[]) => list.length === 0);
}

/** The address a scenario host listens on (hosts without one: 127.0.0.<position>). */
export function scenarioHostAddress(scenario: Scenario, index: number): string {
  return scenario.hosts[index]?.address ?? `127.0.0.${index + 1}`;
}

/** Why the scenario cannot be applied to the pool the state holds (empty: it can). */
export async function conflictsWithState(core: XapiLabCore, scenario: Scenario): Promise<string[]> {
  const { db } = core;
  const reasons: string[] = [];
  const pool = db.require('pool', core.poolRef);
  if (pool.name_label !== scenario.pool.name)
    reasons.push(`the pool is "${pool.name_label as string}", the scenario's is "${scenario.pool.name}"`);
  if (core.product.id !== scenario.pool.product)
    reasons.push(`the pool is ${core.product.id}, the scenario's is ${scenario.pool.product}`);
  const { credentials } = core.private;
  if (credentials.username !== scenario.credentials.username)
    reasons.push(`the pool's account is "${credentials.username}", the scenario's "${scenario.credentials.username}"`);
  else if (
    scenario.credentials.password !== undefined &&
    !(await verifyPassword(scenario.credentials.password, credentials.passwordHash))
  )
    reasons.push("the scenario's root password is not the pool's");
  const hostsByName = new Map(db.rows('host').map(([ref, h]) => [h.name_label as string, ref]));
  const addressesInUse = new Map(Object.entries(core.private.hostAddresses).map(([ref, a]) => [a, ref]));
  scenario.hosts.forEach((h, i) => {
    const address = scenarioHostAddress(scenario, i);
    const ref = hostsByName.get(h.name);
    if (ref && core.hostAddress(ref) !== address)
      reasons.push(`host "${h.name}" listens on ${core.hostAddress(ref)}, the scenario says ${address}`);
    const holder = addressesInUse.get(address);
    if (!ref && holder)
      reasons.push(
        `host "${h.name}" would listen on ${address}, where host "${db.get('host', holder)?.name_label as string}" is`,
      );
  });
  const srsByName = new Map(db.rows('SR').map(([, sr]) => [sr.name_label as string, sr]));
  for (const sr of scenario.srs) {
    const existing = srsByName.get(sr.name);
    if (existing && (existing.type !== sr.type || (existing.is_tools_sr === true) !== sr.tools))
      reasons.push(
        `SR "${sr.name}" is ${existing.type as string}${existing.is_tools_sr === true ? ' (tools)' : ''}, the scenario's is ${sr.type}${sr.tools ? ' (tools)' : ''}`,
      );
  }
  const netsByName = new Map(db.rows('network').map(([, n]) => [n.name_label as string, n]));
  for (const n of scenario.networks) {
    const existing = netsByName.get(n.name);
    if (existing && existing.bridge !== n.bridge)
      reasons.push(`network "${n.name}" is on bridge ${existing.bridge as string}, the scenario's on ${n.bridge}`);
  }
  return reasons;
}

/** Adds what the scenario has and the state does not; returns what was added. */
export async function applyToState(core: XapiLabCore, scenario: Scenario): Promise<ScenarioAdditions> {
  const { db } = core;
  const added: ScenarioAdditions = { hosts: [], srs: [], isos: [], networks: [], templates: [], vms: [] };
  const hostNames = new Set(db.rows('host').map(([, h]) => h.name_label as string));
  for (const [i, h] of scenario.hosts.entries()) {
    if (hostNames.has(h.name)) continue;
    const address = scenarioHostAddress(scenario, i);
    const ref = await addHost(core, h, address);
    core.private.hostAddresses[ref] = address;
    attachHost(core, ref);
    added.hosts.push(h.name);
  }
  const hosts = db.rows('host').map(([ref]) => ref);
  const srs = new Map(db.rows('SR').map(([ref, sr]) => [sr.name_label as string, ref]));
  for (const sr of scenario.srs) {
    const ref = srs.get(sr.name);
    if (ref) {
      if (sr.type === 'iso') added.isos.push(...(await addIsos(core, ref, sr.isos)));
      continue;
    }
    const made = await addSr(core, sr, hosts);
    srs.set(sr.name, made);
    added.srs.push(sr.name);
    added.isos.push(...sr.isos.map((i) => i.file));
    if (sr.default && db.get('pool', core.poolRef)?.default_SR === 'OpaqueRef:NULL')
      db.set('pool', core.poolRef, { default_SR: made, suspend_image_SR: made, crash_dump_SR: made });
  }
  const networks = new Map(db.rows('network').map(([ref, n]) => [n.name_label as string, ref]));
  for (const n of scenario.networks) {
    if (networks.has(n.name)) continue;
    networks.set(n.name, addNetwork(core, n, hosts, networks.size === 0));
    added.networks.push(n.name);
  }
  added.templates.push(...addTemplates(core, scenario));
  const vmNames = new Set(
    db
      .rows('VM')
      .filter(([, v]) => v.is_a_template !== true && v.is_control_domain !== true)
      .map(([, v]) => v.name_label as string),
  );
  for (const vm of scenario.vms) {
    if (vmNames.has(vm.name)) continue;
    await addVm(core, vm, srs, networks);
    added.vms.push(vm.name);
  }
  // Restrictions are the licence the pool runs under now: the scenario's, whatever the state had.
  db.set('pool', core.poolRef, { restrictions: poolRestrictions(scenario) });
  return added;
}
