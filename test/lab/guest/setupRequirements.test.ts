// The lab's Windows 11 Setup checks the VM it boots on as Setup does: without UEFI, Secure Boot or a TPM 2.0 it
// stops before touching the disk and says which; with all three it goes on to the answer file. Other media
// install on BIOS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Xapi } from 'xen-api';
import { attachWindowsGuests } from '../../../src/lab/guest/attach.js';
import { setupRefusals, type InstallMedia } from '../../../src/lab/guest/setup.js';
import { testLogger } from '../../helpers/logger.js';
import { waitFor } from '../../helpers/waitFor.js';
import { beforeLabStops, labClient, startTestLab } from '../../helpers/xapiLab.js';
import { insertCd } from './labVm.js';

const MiB = 1024 * 1024;

/** A halted VM with a small disk and the Windows 11 media in drive 3. */
async function win11Vm(xapi: Xapi, name: string, firmware: 'bios' | 'uefi'): Promise<string> {
  const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
  const vm = await xapi.callAsync<string>('VM.clone', tpl, name);
  const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
  const srUuid = await xapi.call<string>('SR.get_uuid', sr);
  await xapi.call(
    'VM.add_to_other_config',
    vm,
    'disks',
    `<provision><disk device="0" size="${64 * MiB}" sr="${srUuid}" bootable="true" type="system"/></provision>`,
  );
  await xapi.callAsync('VM.provision', vm);
  await xapi.call('VM.set_HVM_boot_params', vm, { order: 'dc', firmware });
  const [iso] = await xapi.call<string[]>('VDI.get_by_name_label', 'Win11_24H2_English_x64.iso');
  await insertCd(xapi, vm, '3', iso!);
  return vm;
}

test('Windows 11 Setup stops on a VM without Secure Boot and a TPM, naming both; with them it reads the answer file', async (t) => {
  const lab = await startTestLab(t, { scenario: 'xcp-ng-8.3', speed: 0.002 });
  const xapi = await labClient(lab);
  const guests = await attachWindowsGuests(lab.host, {
    stateDir: lab.stateDir,
    ports: { http: 0, https: 0 },
    log: testLogger(),
  });
  beforeLabStops(lab, () => guests.stop());

  const bare = await win11Vm(xapi, 'win11-no-trust', 'uefi');
  await xapi.call('VM.remove_from_platform', bare, 'secureboot');
  await xapi.call('VM.add_to_platform', bare, 'secureboot', 'false');
  await xapi.callAsync('VM.start', bare, false, false);
  const refused = await waitFor('Setup to stop', () => {
    const s = guests.guest(bare)?.status;
    return s?.phase === 'setup-failed' ? s : undefined;
  });
  assert.equal(
    refused.setupError,
    "This PC can't run Windows 11: The PC must support Secure Boot. The PC must support TPM 2.0.",
  );

  const trusted = await win11Vm(xapi, 'win11-trusted', 'uefi');
  await xapi.call('VM.remove_from_platform', trusted, 'secureboot');
  await xapi.call('VM.add_to_platform', trusted, 'secureboot', 'true');
  await xapi.call('VTPM.create', trusted, false);
  await xapi.callAsync('VM.start', trusted, false, false);
  const next = await waitFor('Setup to look for its answer file', () => {
    const s = guests.guest(trusted)?.status;
    return s?.phase === 'setup-failed' ? s : undefined;
  });
  // Past the compatibility check: no answer CD is inserted, so Setup now waits for input.
  assert.match(next.setupError ?? '', /no Autounattend\.xml/);
});

test('only Windows 11 media check the platform; BIOS is refused with UEFI named first', () => {
  const media = (product: string): InstallMedia => ({
    drive: { letter: 'D', dir: '/x' } as never,
    images: [],
    product,
  });
  const none = { firmware: 'bios', secureBoot: false, vtpm: false } as const;
  assert.deepEqual(setupRefusals(media('Windows 11'), none), [
    'The PC must support UEFI firmware.',
    'The PC must support Secure Boot.',
    'The PC must support TPM 2.0.',
  ]);
  assert.deepEqual(setupRefusals(media('Windows Server 2025'), none), []);
  assert.deepEqual(setupRefusals(media('Windows Server 2022'), none), []);
  assert.deepEqual(setupRefusals(media('Windows 11'), { firmware: 'uefi', secureBoot: true, vtpm: true }), []);
});
