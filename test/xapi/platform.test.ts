// Firmware and trust on the build VM against the lab's products: what each pool offers (the VTPM class, its
// licence, Secure Boot keys) and the typed refusal before anything is created; platform:secureboot and the VTPM
// on the build VM, found again by a retry; the VTPM through snapshot and revert as XAPI keeps it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { XapiLab } from '../../src/lab/xapi/index.js';
import { SecretResolver } from '../../src/secrets.js';
import { ensureBuildVm } from '../../src/xapi/buildVm.js';
import { connectPool } from '../../src/xapi/connect.js';
import type { XapiConnection } from '../../src/xapi/connection.js';
import { applyDeviceIdPolicy } from '../../src/xapi/platform.js';
import { assessPvTools } from '../../src/xapi/pvDrivers.js';
import { ensureSnapshot, revertTo } from '../../src/xapi/snapshots.js';
import { findTagged } from '../../src/xapi/tags.js';
import {
  assertPoolSupports,
  ensureVtpm,
  PlatformUnsupportedError,
  readPoolPlatform,
  setSecureBoot,
  type PoolPlatform,
} from '../../src/xapi/trust.js';
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

const UEFI_ALL = { firmware: 'uefi', secureBoot: true, vtpm: true } as const;

function refusal(pool: PoolPlatform, wanted = UEFI_ALL): PlatformUnsupportedError {
  try {
    assertPoolSupports(pool, wanted);
  } catch (err) {
    assert.ok(err instanceof PlatformUnsupportedError, String(err));
    return err;
  }
  assert.fail('the pool was accepted');
}

test('what each product offers: XCP-ng 8.3 and XenServer 8 give UEFI, Secure Boot and a vTPM; 8.2 has no VTPM class', async (t) => {
  for (const product of ['xcp-ng-8.3', 'xenserver-8'] as const) {
    const lab = await startTestLab(t, {
      scenario: { name: `p-${product}`, extends: 'default', pool: { name: `lab-${product}`, product } },
    });
    const offered = await readPoolPlatform(await connect(lab));
    assert.equal(offered.vtpmClass, true, product);
    assert.equal(offered.vtpmLicensed, true, product);
    assert.equal(offered.secureBootKeys, true, product);
    assert.doesNotThrow(() => assertPoolSupports(offered, UEFI_ALL));
  }
  const old = await startTestLab(t, { scenario: 'xcp-ng-8.2' });
  const offered = await readPoolPlatform(await connect(old));
  assert.deepEqual([offered.vtpmClass, offered.product, offered.xapi], [false, 'XCP-ng 8.2.1', '1.249']);
  const err = refusal(offered);
  assert.equal(err.type, 'PlatformUnsupported');
  assert.equal(err.retryable, false);
  assert.match(err.message, /XCP-ng 8\.2\.1.*a vTPM: its XAPI \(1\.249\) has no VTPM class/);
  // UEFI with Secure Boot alone is fine there.
  assert.doesNotThrow(() => assertPoolSupports(offered, { firmware: 'uefi', secureBoot: true, vtpm: false }));
});

test('a pool whose licence restricts vTPMs, or without Secure Boot keys, is refused naming what is missing', async (t) => {
  const lab = await startTestLab(t, {
    scenario: {
      name: 'restricted',
      extends: 'default',
      pool: { name: 'restricted-lab', restrictions: { restrict_vtpm: 'true' } },
    },
  });
  const offered = await readPoolPlatform(await connect(lab));
  assert.deepEqual([offered.vtpmClass, offered.vtpmLicensed], [true, false]);
  assert.match(refusal(offered).message, /a vTPM: the pool licence restricts it \(restrict_vtpm\)/);
  const noKeys = { ...offered, vtpmLicensed: true, secureBootKeys: false };
  const err = refusal(noKeys);
  assert.match(err.message, /Secure Boot: the pool has no UEFI certificates/);
  assert.deepEqual(err.details.missing, [
    'Secure Boot: the pool has no UEFI certificates to seed the VM with (pool.uefi_certificates)',
  ]);
});

test('the build VM gets platform:secureboot and one VTPM; a retry finds them; snapshot and revert keep a VTPM', async (t) => {
  const lab = await startTestLab(t, { scenario: 'xcp-ng-8.3' });
  const conn = await connect(lab);
  const build = 'platform-test@run-1';
  const spec = { name: 'uefi build', memoryMiB: 4096, vcpus: 2, diskGiB: 16, firmware: 'uefi' as const };
  const made = await ensureBuildVm(conn, build, spec);
  await setSecureBoot(conn, made.vm, UEFI_ALL);
  const first = await ensureVtpm(conn, made.vm);
  assert.equal(first.reused, false);

  // A retry of the whole step: the same VM, the same VTPM, nothing added.
  const again = await ensureBuildVm(conn, build, spec);
  assert.equal(again.vm, made.vm);
  await setSecureBoot(conn, again.vm, UEFI_ALL);
  const second = await ensureVtpm(conn, again.vm);
  assert.deepEqual(second, { ...first, reused: true });
  const rec = await conn.fetch('VM', made.vm);
  assert.deepEqual(rec.VTPMs, [first.ref]);
  assert.equal(rec.platform.secureboot, 'true');
  assert.equal(rec.HVM_boot_params.firmware, 'uefi');

  // XAPI copies the VTPM into the snapshot and back onto the VM at revert (new uuids, one VTPM each).
  const snap = await ensureSnapshot(conn, build, made.vm, 'pre-sysprep');
  const snapVtpms = (await conn.fetch('VM', snap.snapshot)).VTPMs;
  assert.equal(snapVtpms.length, 1);
  await revertTo(conn, build, snap.snapshot);
  const after = await ensureVtpm(conn, made.vm);
  assert.equal(after.reused, true);
  assert.notEqual(after.uuid, first.uuid, 'revert replaced the VTPM with a copy of the snapshot’s');
  assert.equal((await conn.fetch('VM', made.vm)).VTPMs.length, 1);
  assert.equal(findTagged(conn, build).vms.length, 1);
});

test('BIOS leaves platform:secureboot alone', async (t) => {
  const lab = await startTestLab(t, { scenario: 'default' });
  const conn = await connect(lab);
  const made = await ensureBuildVm(conn, 'bios-build@run-1', { name: 'bios', memoryMiB: 2048, vcpus: 1, diskGiB: 16 });
  const before = (await conn.fetch('VM', made.vm)).platform;
  await setSecureBoot(conn, made.vm, { firmware: 'bios', secureBoot: false, vtpm: false });
  assert.deepEqual((await conn.fetch('VM', made.vm)).platform, before);
});

test('platform:device_id by policy: keep what the tools left, set 0002 once, remove; each says what it did', async (t) => {
  const lab = await startTestLab(t, { scenario: 'default' });
  const conn = await connect(lab);
  const { vm } = await ensureBuildVm(conn, 'device-id@run-1', { name: 'dev', memoryMiB: 2048, vcpus: 1, diskGiB: 16 });
  await conn.call('VM.remove_from_platform', vm, 'device_id');
  assert.deepEqual(await applyDeviceIdPolicy(conn, vm, 'keep'), { policy: 'keep', action: 'kept', changed: false });
  assert.deepEqual(await applyDeviceIdPolicy(conn, vm, '0002'), {
    policy: '0002',
    action: 'set',
    value: '0002',
    changed: true,
  });
  assert.equal((await conn.fetch('VM', vm)).platform.device_id, '0002');
  assert.deepEqual(await applyDeviceIdPolicy(conn, vm, '0002'), {
    policy: '0002',
    action: 'none',
    value: '0002',
    previous: '0002',
    changed: false,
  });
  assert.deepEqual(await applyDeviceIdPolicy(conn, vm, 'keep'), {
    policy: 'keep',
    action: 'kept',
    value: '0002',
    previous: '0002',
    changed: false,
  });
  assert.deepEqual(await applyDeviceIdPolicy(conn, vm, 'remove'), {
    policy: 'remove',
    action: 'removed',
    changed: true,
  });
  assert.equal((await conn.fetch('VM', vm)).platform.device_id, undefined);
});

test('PV tools against the XSA-468 fixes: per-driver entries by vendor, else the XenServer tools version', () => {
  const old = assessPvTools({ major: '9', minor: '4', micro: '0', build: '146' });
  assert.deepEqual([old.version, old.vendor, old.xsa468Vulnerable], ['9.4.0.146', 'unknown', true]);
  assert.match(old.warning ?? '', /XSA-468.*XenServer VM Tools 9\.4\.1/);
  const fixed = assessPvTools({ major: '9', minor: '4', micro: '1', build: '12' });
  assert.deepEqual([fixed.xsa468Vulnerable, fixed.warning], [false, undefined]);
  const xsDrivers = assessPvTools({
    major: '9',
    minor: '4',
    micro: '2',
    build: '1',
    xenbus: 'XenServer 9.1.11.115 ',
    xeniface: 'XenServer 9.1.12.93 ',
  });
  assert.deepEqual([xsDrivers.vendor, xsDrivers.xsa468Vulnerable], ['XenServer', true], 'xeniface below 9.1.12.94');
  const xcp = assessPvTools({
    major: '9',
    minor: '0',
    micro: '9137',
    xenbus: 'XCP_ng 9.0.9137 ',
    xeniface: 'XCP_ng 9.0.9137 ',
  });
  assert.deepEqual([xcp.vendor, xcp.xsa468Vulnerable], ['XCP-ng', false]);
  const xcpOld = assessPvTools({ xenbus: 'XCP_ng 9.0.9060 ' });
  assert.match(xcpOld.warning ?? '', /XCP-ng Windows PV Tools 9\.0\.9137/);
  assert.equal(assessPvTools({}).xsa468Vulnerable, null, 'no report: unknown');
});
