// The pool's Windows PV tools ISO by the names each product ships it under (src/xapi/toolsIso.ts), against the
// lab's scenarios: XenServer's tools SR marks guest-tools.iso; XCP-ng 8.3's is Linux only, so the XCP-ng Windows PV
// Tools ISO in the ISO library is the one; an XCP-ng pool without it is a typed error listing what was tried.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { SecretResolver } from '../../src/secrets.js';
import { connectPool } from '../../src/xapi/connect.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { findToolsIso, ToolsIsoNotFoundError } from '../../src/xapi/toolsIso.js';
import { beforeLabStops, startTestLab } from '../helpers/xapiLab.js';

async function connect(lab: XapiLab): Promise<XapiConnection> {
  const conn = await connectPool(
    lab.poolName,
    { poolsFile: lab.poolsFile, secrets: new SecretResolver({ dir: lab.secretsDir, env: {} }) },
    { eventPollDelayMs: 200 },
  );
  beforeLabStops(lab, () => conn.close());
  return conn;
}

test("XenServer: the tools SR's official guest-tools.iso", async (t) => {
  const conn = await connect(await startTestLab(t, { scenario: 'xenserver-8' }));
  const iso = await findToolsIso(conn);
  assert.deepEqual({ name: iso.name, kind: iso.kind }, { name: 'guest-tools.iso', kind: 'xenserver' });
  assert.equal((await conn.fetch('VDI', iso.vdi)).is_tools_iso, true);
});

test('XCP-ng 8.3: not the Linux-only guest-tools.iso but the XCP-ng Windows PV Tools ISO', async (t) => {
  const conn = await connect(await startTestLab(t, { scenario: 'xcp-ng-8.3' }));
  const iso = await findToolsIso(conn);
  assert.deepEqual({ name: iso.name, kind: iso.kind }, { name: 'xcp-ng-windows-pv-tools-9.2.350.iso', kind: 'xcp-ng' });
});

test('XCP-ng without a Windows tools ISO: PvToolsIsoNotFound, non-retryable, naming the names tried', async (t) => {
  const conn = await connect(await startTestLab(t, { scenario: 'xcp-ng-8.2' }));
  const err = await findToolsIso(conn).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ToolsIsoNotFoundError);
  assert.equal(err.type, 'PvToolsIsoNotFound');
  assert.equal(err.retryable, false);
  assert.match(
    err.message,
    /^no Windows PV tools ISO in the pool \(XCP-ng\); tried xcp-ng-windows-pv-tools\*\.iso, xcp-ng-tools\*\.iso, XenTools\*\.iso: /,
  );
});
