// What the lab does when Keystone/Glance are missing: without root (or off Debian) it stops with a typed error
// that says what to install and how to name an existing cloud instead; with everything present it does nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenimageError } from '../../../src/errors.js';
import { OPENSTACK_TOOLS } from '../../../src/host/catalog.js';
import { hostProbe } from '../../../src/host/systemPackages.js';
import { ensureOpenStackPrograms } from '../../../src/lab/openstack/packages.js';
import { testLogger } from '../../helpers/logger.js';

const missingKeystone = {
  command: '/nonexistent/keystone-manage',
  package: 'keystone',
  purpose: 'the embedded Keystone',
};

test('missing programs without root: typed error naming the packages, the command and OS_CLOUD', async () => {
  const probe = { ...hostProbe(), root: false, debianLike: true };
  const err = await ensureOpenStackPrograms(testLogger(), {
    probe,
    tools: [missingKeystone, OPENSTACK_TOOLS[2]!],
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError);
  assert.equal(err.type, 'SystemPackagesMissing');
  assert.equal(err.retryable, false);
  assert.match(err.message, /keystone \(\/nonexistent\/keystone-manage\)/);
  assert.match(err.message, /sudo apt-get install -y --no-install-recommends keystone\./);
  assert.match(err.message, /OS_CLOUD/);
  assert.deepEqual(err.details, { packages: ['keystone'], tools: ['/nonexistent/keystone-manage'] });
});

test('missing programs off Debian (even as root): the same typed error, nothing installed', async () => {
  const probe = { ...hostProbe(), root: true, debianLike: false };
  const err = await ensureOpenStackPrograms(testLogger(), { probe, tools: [missingKeystone] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError && err.type === 'SystemPackagesMissing');
});

test('on this machine everything the lab runs is present', async () => {
  await ensureOpenStackPrograms(testLogger(), { probe: { ...hostProbe(), root: false } });
});
