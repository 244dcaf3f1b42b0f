// Independent clients against every shipped scenario, as a new user of the lab would drive it: Debian's
// python3-os-xenapi and the PyPI XenAPI package each probe all the scenarios' pools in one Python process
// (fixtures/scenario_probe.py), and pywinrm drives every Windows guest the scenarios pre-install
// (fixtures/winrm_probe.py). The labs run side by side, each with its simulated guests.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { WindowsGuests } from '../../../src/lab/guest/attach.js';
import { parseGuestScenario } from '../../../src/lab/guest/scenario.js';
import { listScenarios } from '../../../src/lab/scenarios/load.js';
import type { XapiLab } from '../../../src/lab/xapi/index.js';
import { PRODUCTS } from '../../../src/lab/xapi/setup/products.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/waitFor.js';
import { labGuests, startTestLab } from '../../helpers/xapiLab.js';
import { debianBinding, type PythonBinding, pypiBinding } from './pythonClients.js';

const run = promisify(execFile);
const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../test/lab/xapi/fixtures');

interface Started {
  name: string;
  lab: XapiLab;
  guests: WindowsGuests;
}

const cleanups: Array<() => Promise<void>> = [];
const owner = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
let labs: Started[] = [];
let names: string[] = [];
let dir = '';

function xapiTarget({ name, lab }: Started): object {
  const product = PRODUCTS[lab.product];
  const { scenario } = lab;
  return {
    scenario: name,
    url: lab.url,
    httpsUrl: lab.httpsUrl,
    ca: lab.caFile,
    user: lab.username,
    password: lab.password,
    pool: scenario.pool.name,
    product: {
      product_brand: product.softwareVersion.product_brand,
      product_version: product.softwareVersion.product_version,
      xapi: product.softwareVersion.xapi,
      vtpm: product.vtpm,
      uefiCertificates: product.uefiCertificates,
    },
    vms: scenario.vms.map((v) => ({
      name: v.name,
      powerState: v.powerState,
      firmware: v.mode === 'hvm' ? v.firmware : 'bios',
      secureBoot: v.secureBoot,
      vtpm: v.vtpm,
    })),
    templates: lab.describe().templates.map((t) => t.name),
    tools: scenario.srs.some((sr) => sr.tools && sr.isos.some((i) => i.file === 'guest-tools.iso')),
    // Calls that scenario faults aim at (VM.clone, …) are left out where faults are planned.
    mutate: scenario.faults.xapi.length === 0,
  };
}

async function pythonProbe(binding: PythonBinding): Promise<string[]> {
  const targets = path.join(dir, `targets-${binding.name.replace(/\W+/g, '-')}.json`);
  await writeFile(targets, JSON.stringify(labs.map(xapiTarget)), { mode: 0o600 });
  const { stdout } = await run(binding.python, [path.join(fixtures, 'scenario_probe.py'), binding.module, targets], {
    env: binding.env,
    timeout: 120_000,
  }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`${binding.name} failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  return stdout.trim().split('\n');
}

describe('independent clients over every shipped scenario', () => {
  before(async () => {
    dir = await tempDir(owner, 'xenimage-probes-');
    names = await listScenarios();
    labs = await Promise.all(
      names.map(async (name) => {
        const lab = await startTestLab(owner, { scenario: name, speed: 0.002 });
        const guests = await labGuests(lab);
        return { name, lab, guests };
      }),
    );
  });
  after(async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  });

  test("Debian's python3-os-xenapi probes every scenario's pool", async () => {
    assert.deepEqual(
      await pythonProbe(await debianBinding()),
      names.map((n) => `ok: ${n}`),
    );
  });

  test('the PyPI XenAPI package probes every scenario’s pool', async () => {
    assert.deepEqual(
      await pythonProbe(await pypiBinding()),
      names.map((n) => `ok: ${n}`),
    );
  });

  test('pywinrm drives every Windows guest the scenarios pre-install', async () => {
    const guests: object[] = [];
    for (const { name, lab, guests: attached } of labs) {
      for (const w of parseGuestScenario(lab.scenario.guests, []).guests.windows) {
        const info = await waitFor(`the WinRM listener of ${name}/${w.vm}`, () =>
          attached.guests().find((g) => g.vm === w.vm),
        );
        assert.ok(info.password, 'the lab knows the password of a pre-installed guest');
        const passwordFile = path.join(dir, `${name}-${w.vm}.password`);
        await writeFile(passwordFile, info.password, { mode: 0o600 });
        guests.push({
          ...info,
          scenario: name,
          computerName: w.computerName,
          password: undefined,
          passwordFile,
        });
      }
    }
    const expected = guests.map((g) => `ok: ${(g as { scenario: string }).scenario}/${(g as { vm: string }).vm}`);
    assert.ok(
      ['windows-ready', 'xenserver-8', 'xcp-ng-8.3', 'windows-moving-addresses'].every((s) =>
        expected.some((e) => e.startsWith(`ok: ${s}/`)),
      ),
      'the Windows scenarios are all there',
    );
    const file = path.join(dir, 'guests.json');
    await writeFile(file, JSON.stringify(guests), { mode: 0o600 });
    const { stdout } = await run('/usr/bin/python3', [path.join(fixtures, 'winrm_probe.py'), file], {
      timeout: 120_000,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`pywinrm failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    assert.deepEqual(stdout.trim().split('\n'), expected);
  });
});
