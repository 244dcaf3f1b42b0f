// Smaller images (docs/decisions/windows-0010-smaller-images.md) against the simulated Windows: clearCaches empties
// the temp folders, Windows Update's download cache and the CBS logs, keeps Panther's logs, leaves wuauserv as it
// found it, and says what it removed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { run } from '../helpers/activityContext.js';
import { guestActivities as makeGuestActivities } from '../../activities/guest.js';
import { startStandaloneWindows } from '../../src/lab/guest/standalone.js';
import { testDeps } from '../helpers/deps.js';
import { tempDir } from '../helpers/tmp.js';

test('clearCaches removes temp files, the update download cache and CBS logs, keeps Panther logs, restarts wuauserv', async (t) => {
  const adminPassword = `Adm!n-${randomBytes(6).toString('hex')}`;
  const w = await startStandaloneWindows({ adminPassword, scale: 0.01 });
  t.after(() => w.stop());
  const m = w.machine;
  for (const d of [
    'C:\\Windows\\SoftwareDistribution\\Download\\a1b2',
    'C:\\Windows\\Logs\\CBS',
    'C:\\Windows\\Temp\\setup',
  ])
    m.mkdir(d);
  const junk = [
    'C:\\Windows\\Temp\\setup\\dism.tmp',
    'C:\\Windows\\Temp\\MpCmdRun.log',
    'C:\\Windows\\SoftwareDistribution\\Download\\a1b2\\windows10.0-kb5034439-x64.cab',
    'C:\\Windows\\Logs\\CBS\\CBS.log',
    'C:\\Windows\\Logs\\CBS\\CbsPersist_20260101000000.log',
  ];
  for (const f of junk) assert.ok(m.writeFile(f, randomBytes(64)), f);
  const kept = ['C:\\Windows\\Panther\\setupact.log', 'C:\\Windows\\Logs\\CBS\\FilterList.xml'];
  for (const f of kept) assert.ok(m.writeFile(f, 'kept'), f);
  m.service('wuauserv')!.running = true;

  const name = `smaller-${randomBytes(6).toString('hex')}`;
  const env = { [`XENIMAGE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`]: adminPassword };
  const activities = makeGuestActivities(testDeps({ stateDir: await tempDir(t), env }));
  const guest = {
    address: w.address,
    port: w.port,
    https: false,
    username: 'Administrator',
    password: { secret: name },
  };

  const { cleared } = await run(() => activities.clearCaches({ guest }));
  for (const f of junk) assert.equal(m.fileExists(f), false, `${f} is gone`);
  for (const f of kept) assert.equal(m.fileExists(f), true, `${f} is kept`);
  assert.deepEqual(
    [...cleared].sort(),
    [
      'C:\\Windows\\Temp\\setup',
      'C:\\Windows\\Temp\\MpCmdRun.log',
      // Left by the simulated Setup itself (src/lab/guest/state.ts).
      'C:\\Windows\\Temp\\MpSigStub.log',
      'C:\\Windows\\SoftwareDistribution\\Download\\a1b2',
      'C:\\Windows\\Logs\\CBS\\CBS.log',
      'C:\\Windows\\Logs\\CBS\\CbsPersist_20260101000000.log',
    ].sort(),
  );
  assert.equal(m.service('wuauserv')!.running, true, 'wuauserv runs again, as it did');
  assert.ok(
    m.commandLog.some((l) => /Stop-Service -Name 'wuauserv'/.test(l)),
    'the service was stopped around the cache',
  );
  assert.deepEqual(await run(() => activities.clearCaches({ guest })), { cleared: [] }, 'a second run finds nothing');
});
