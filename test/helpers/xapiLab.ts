// A private XAPI lab per test (its own state folder, pools file and secrets), fast latencies; and `xen-api`
// clients connected to it. Everything is undone in reverse order when the test ends: clients disconnect before
// the lab stops, the lab stops before its folder is removed.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { createClient, type Xapi, type XapiOptions } from 'xen-api';
import { attachWindowsGuests, type AttachOptions, type WindowsGuests } from '../../src/lab/guest/attach.js';
import { startXapiLab, type StartXapiLabOptions, type XapiLab } from '../../src/lab/xapi/index.js';
import { testLogger } from './logger.js';

type After = Pick<TestContext, 'after'>;

type Step = () => Promise<unknown>;

const cleanups = new WeakMap<XapiLab, Step[]>();
const testStacks = new WeakMap<After, Step[]>();

/** One cleanup stack per test, undone in reverse order by a single `after` hook. */
function stackOf(t: After): Step[] {
  let stack = testStacks.get(t);
  if (!stack) {
    const steps: Step[] = [];
    stack = steps;
    testStacks.set(t, steps);
    t.after(async () => {
      for (const step of steps.reverse()) await step().catch(() => undefined);
    });
  }
  return stack;
}

/** A state folder several labs of one test share (restarts); removed after every lab of the test stopped. */
export async function labStateDir(t: After): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-lab-'));
  stackOf(t).push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a lab (in a fresh folder unless `stateDir` is given). */
export async function startTestLab(t: After, options: Partial<StartXapiLabOptions> = {}): Promise<XapiLab> {
  const dir = options.stateDir ?? (await labStateDir(t));
  const testStack = stackOf(t);
  const stack: Step[] = [];
  let lab: XapiLab;
  try {
    lab = await startXapiLab({
      speed: 0.01,
      log: testLogger(),
      poolsFile: path.join(dir, 'pools.yaml'),
      secretsDir: path.join(dir, 'secrets'),
      ...options,
      stateDir: dir,
    });
  } catch (err) {
    if (options.stateDir === undefined) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  stack.push(() => lab.stop());
  cleanups.set(lab, stack);
  testStack.push(async () => {
    for (const step of stack.reverse()) await step().catch(() => undefined);
  });
  return lab;
}

/** Registers something to undo before the lab stops. */
export function beforeLabStops(lab: XapiLab, step: () => Promise<unknown>): void {
  cleanups.get(lab)?.push(step);
}

/**
 * The lab's simulated Windows guests, as its scenario declares them (guests and guest faults, unless `options`
 * says otherwise), on free ports; stopped before the lab stops.
 */
export async function labGuests(lab: XapiLab, options: Partial<AttachOptions> = {}): Promise<WindowsGuests> {
  const guests = await attachWindowsGuests(lab.host, {
    stateDir: lab.stateDir,
    guests: lab.scenario.guests,
    faults: lab.scenario.faults.guest,
    ports: { http: 0, https: 0 },
    log: testLogger(),
    ...options,
  });
  beforeLabStops(lab, () => guests.stop());
  return guests;
}

/** An xen-api client on the lab, connected, with short event delays; disconnected before the lab stops. */
export async function labClient(lab: XapiLab, options: Partial<XapiOptions> = {}): Promise<Xapi> {
  const xapi = createClient({
    url: lab.url,
    auth: { user: lab.username, password: lab.password },
    eventPollDelay: 500,
    debounce: 20,
    ...options,
  });
  beforeLabStops(lab, () => xapi.disconnect());
  await xapi.connect();
  return xapi;
}
