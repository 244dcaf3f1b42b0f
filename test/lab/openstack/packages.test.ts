// What the lab does when Keystone/Glance are missing: without root (or off Debian) it stops with a typed error
// that says what to install and how to name an existing cloud instead; with everything present it does nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenimageError } from '../../../src/errors.js';
import { ensureOpenStackPrograms, machineProbe, APT_PACKAGES } from '../../../src/lab/openstack/packages.js';
import { testLogger } from '../../helpers/logger.js';

test('missing programs without root: typed error naming the packages and OS_CLOUD', async () => {
  const probe = { programs: ['/nonexistent/keystone-manage', '/usr/bin/env'], root: false, debianLike: true };
  const err = await ensureOpenStackPrograms(testLogger(), probe).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError);
  assert.equal(err.type, 'OpenStackNotInstalled');
  assert.equal(err.retryable, false);
  assert.match(err.message, /missing \/nonexistent\/keystone-manage\)/);
  for (const pkg of APT_PACKAGES) assert.ok(err.message.includes(pkg), pkg);
  assert.match(err.message, /OS_CLOUD/);
  assert.deepEqual(err.details, { missing: ['/nonexistent/keystone-manage'] });
});

test('missing programs off Debian (even as root): the same typed error, nothing installed', async () => {
  const probe = { programs: ['/nonexistent/glance-api'], root: true, debianLike: false };
  const err = await ensureOpenStackPrograms(testLogger(), probe).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof XenimageError && err.type === 'OpenStackNotInstalled');
});

test('on this machine everything the lab runs is present', async () => {
  await ensureOpenStackPrograms(testLogger(), { ...machineProbe(), root: false });
});
