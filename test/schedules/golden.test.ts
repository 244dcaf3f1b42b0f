// Golden-image rotation against the real Glance: the verified image becomes current, the ones beyond `keep` are
// hidden, deactivated or deleted per policy, images of other series and unverified ones are never touched, and a
// second run changes nothing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import {
  checkRotation,
  currentGolden,
  GOLDEN_CURRENT_PROPERTY,
  GOLDEN_PROPERTY,
  GOLDEN_VERIFIED_PROPERTY,
  goldenImages,
  rotateGolden,
  type RetirePolicy,
} from '../../src/openstack/golden.js';
import type { OpenStackCloud } from '../../src/openstack/index.js';
import { testOpenStack } from '../helpers/openstack.js';
import { onTeardown } from '../helpers/teardown.js';

describe('golden image rotation', () => {
  let cloud: OpenStackCloud;

  before(async () => {
    cloud = (await testOpenStack()).open();
  });

  /** An active image of the series, as a build leaves it before rotation (deleted when the file ends). */
  async function goldenImage(series: string, n: number): Promise<string> {
    const image = await cloud.glance.createImage({
      name: series,
      container_format: 'bare',
      disk_format: 'raw',
      properties: { [GOLDEN_PROPERTY]: series },
    });
    onTeardown(() => cloud.glance.deleteImage(image.id).then(() => undefined));
    await cloud.glance.uploadImageData(image.id, Readable.from([Buffer.from(`golden ${series} ${n}`)]));
    return image.id;
  }

  async function series(retire: RetirePolicy, keep: number, builds: number) {
    const name = `golden-${retire}-${randomUUID().slice(0, 6)}`;
    const ids: string[] = [];
    let last;
    for (let n = 0; n < builds; n++) {
      ids.push(await goldenImage(name, n));
      last = await rotateGolden(cloud.glance, {
        name,
        imageId: ids[n]!,
        keep,
        retire,
        verifiedAt: new Date(Date.UTC(2027, 0, 1 + n)).toISOString(),
      });
    }
    return { name, ids, last: last! };
  }

  test('hide: the newest verified image is current, the two newest stay visible, older ones are hidden', async () => {
    const { name, ids, last } = await series('hide', 2, 4);
    const other = await goldenImage(`${name}-other`, 0);
    const unverified = await goldenImage(name, 9);
    assert.deepEqual(last, {
      current: ids[3],
      kept: [ids[3], ids[2]],
      retired: [{ id: ids[1], name, action: 'hide' }],
    });
    const images = new Map((await goldenImages(cloud.glance, name)).map((i) => [i.id, i]));
    assert.equal(images.get(ids[3]!)?.[GOLDEN_CURRENT_PROPERTY], 'true');
    assert.equal(images.get(ids[2]!)?.[GOLDEN_CURRENT_PROPERTY], 'false');
    assert.deepEqual(
      ids.map((id) => images.get(id)?.os_hidden),
      [true, true, false, false],
    );
    assert.equal(currentGolden([...images.values()])?.id, ids[3]);
    // Neither another series nor an image that was never verified is touched.
    const untouched = await cloud.glance.getImage(unverified);
    assert.equal(untouched[GOLDEN_VERIFIED_PROPERTY], undefined);
    assert.equal(untouched.os_hidden, false);
    assert.equal((await cloud.glance.getImage(other)).os_hidden, false);
    // A second run (an activity retried) finds its own state and changes nothing.
    const again = await rotateGolden(cloud.glance, {
      name,
      imageId: ids[3]!,
      keep: 2,
      retire: 'hide',
      verifiedAt: '2030-01-01T00:00:00.000Z',
    });
    assert.deepEqual(again, { current: ids[3], kept: [ids[3], ids[2]], retired: [] });
    assert.equal((await cloud.glance.getImage(ids[3]!))[GOLDEN_VERIFIED_PROPERTY], '2027-01-04T00:00:00.000Z');
  });

  test('deactivate: images beyond keep are deactivated, and the kept ones stay active', async () => {
    const { ids, last } = await series('deactivate', 2, 3);
    assert.deepEqual(
      last.retired.map((r) => r.id),
      [ids[0]],
    );
    const statuses = await Promise.all(ids.map(async (id) => (await cloud.glance.getImage(id)).status));
    assert.deepEqual(statuses, ['deactivated', 'active', 'active']);
  });

  test('delete: images beyond keep are deleted', async () => {
    const { name, ids, last } = await series('delete', 2, 3);
    assert.deepEqual(last.kept, [ids[2], ids[1]]);
    assert.deepEqual((await goldenImages(cloud.glance, name)).map((i) => i.id).sort(), [ids[1]!, ids[2]!].sort());
  });

  test('a keep the policy does not allow, or an image of another series, is refused', async () => {
    assert.throws(() => checkRotation(1, 'delete'), /keep must be an integer of at least 2 with retire=delete/);
    assert.throws(() => checkRotation(1, 'deactivate'), /at least 2/);
    assert.throws(() => checkRotation(0, 'hide'), /at least 1/);
    assert.throws(() => checkRotation(2, 'archive'), /retire must be one of hide, deactivate, delete/);
    const stranger = await goldenImage('golden-stranger', 0);
    await assert.rejects(
      rotateGolden(cloud.glance, {
        name: 'golden-mine',
        imageId: stranger,
        keep: 1,
        retire: 'hide',
        verifiedAt: '2027-01-01T00:00:00Z',
      }),
      (err: Error & { type?: string }) => err.type === 'GoldenMismatch',
    );
  });
});
