// The Windows Update catalog is a property of the lab scenario (docs/lab.md, `guests.updateCatalog`): the same
// installed Windows offers the default catalog under `windows-ready` and only the Defender definition update under
// `windows-ready-definitions`; an unknown catalog name is refused when the scenario is read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseGuestScenario } from '../../../src/lab/guest/scenario.js';
import { offeredUpdates } from '../../../src/lab/guest/windows/updates.js';
import { InvalidInputError } from '../../../src/errors.js';
import { labGuests, startTestLab } from '../../helpers/xapiLab.js';
import { waitFor } from '../../helpers/waitFor.js';

async function offered(t: Parameters<typeof startTestLab>[0], scenario: string): Promise<string[]> {
  const lab = await startTestLab(t, { speed: 0.002, scenario });
  const guests = await labGuests(lab);
  const vm = lab.host.listVms().find((v) => v.nameLabel === 'windows-ready');
  assert.ok(vm, 'the scenario has the windows-ready VM');
  const machine = await waitFor(`the ${scenario} guest running`, () => guests.guest(vm.ref)?.machine ?? undefined);
  return offeredUpdates(machine.state).map((u) => u.kb);
}

test('two scenarios offer different updates: windows-ready the default catalog, windows-ready-definitions only KB2267602', async (t) => {
  const byDefault = await offered(t, 'windows-ready');
  const definitions = await offered(t, 'windows-ready-definitions');
  assert.deepEqual(byDefault, ['KB5044414', 'KB5044281', 'KB5044035', 'KB2267602']);
  assert.deepEqual(definitions, ['KB2267602']);
});

test('a scenario naming an unknown update catalog is refused with the catalogs there are', () => {
  assert.throws(
    () => parseGuestScenario({ updateCatalog: 'nope' }, []),
    (err: unknown) =>
      err instanceof InvalidInputError &&
      /guests\.updateCatalog: an update catalog: default, empty/.test((err as Error).message),
  );
});
