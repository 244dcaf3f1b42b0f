// Concurrent attempts of one build settling through claims (docs/decisions/openstack-0003-concurrent-attempts.md),
// against the real Glance: each attempt's moment is set up in Glance as it would be, then claimAndSettle runs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { claimAndSettle } from '../../src/openstack/attemptClaims.js';
import { buildTag, toCreateRequest, type GlanceImage, type OpenStackCloud } from '../../src/openstack/index.js';
import { waitFor } from '../helpers/waitFor.js';
import { startTestLab, type TestLab } from './support/lab.js';

let lab: TestLab;
let cloud: OpenStackCloud;
const logger = createLogger({ level: 'silent' });

before(async () => {
  lab = await startTestLab();
  cloud = lab.cloud();
});
after(async () => {
  await lab?.close();
});

/** A build whose attempts each create an image, one after the other (creation order is the attempts' order). */
async function build() {
  const buildId = `build-${randomUUID()}`;
  const spec = { buildId, name: 'claims-test', minDiskGiB: 1, minRamMiB: 256, properties: {} };
  const list = () => cloud.glance.listImages({ tag: buildTag(buildId) });
  const create = async (): Promise<GlanceImage> => {
    const image = await cloud.glance.createImage(toCreateRequest(spec), undefined);
    // Creation order must be unambiguous: created_at has one-second resolution (ties fall back to the ID).
    await waitForNextSecond(image.created_at);
    return image;
  };
  return { list, create };
}

async function waitForNextSecond(createdAt: string): Promise<void> {
  const next = Date.parse(createdAt) + 1000;
  while (Date.now() < next + 50) await new Promise((r) => setTimeout(r, next + 50 - Date.now()));
}

async function unprotectAndDelete(images: GlanceImage[]): Promise<void> {
  for (const img of images) {
    await cloud.glance.updateImage(img.id, { protected: false }).catch(() => undefined);
    await cloud.glance.deleteImage(img.id).catch(() => undefined);
  }
}

test('an attempt whose image is newer than a claimed one withdraws: its image goes, it names the claimed one', async (t) => {
  const { list, create } = await build();
  const older = await create();
  const ours = await create();
  // The older attempt has claimed its image and is deciding right now.
  await cloud.glance.updateImage(older.id, { protected: true });
  t.after(async () => unprotectAndDelete(await list()));

  const survivor = await claimAndSettle(cloud, list, ours, logger);
  assert.equal(survivor.id, older.id);
  const left = await list();
  assert.deepEqual(
    left.map((i) => [i.id, i.protected]),
    [[older.id, true]],
    "ours is gone; the other attempt's claim is its own to release",
  );
});

test('a claimed image refuses deletion, so a stale winner cannot remove it', async (t) => {
  const { list, create } = await build();
  const image = await create();
  t.after(async () => unprotectAndDelete(await list()));
  await cloud.glance.updateImage(image.id, { protected: true });
  await assert.rejects(
    cloud.glance.deleteImage(image.id),
    (err: unknown) => (err as { status?: number }).status === 403,
  );
  assert.equal((await list()).length, 1);
});

test('the oldest claimant removes unclaimed images, waits for a newer claimant to withdraw, then releases its own', async (t) => {
  const { list, create } = await build();
  const ours = await create();
  const abandoned = await create(); // an attempt that died before its upload finished: unclaimed, queued
  const newer = await create(); // an attempt that verified and claimed its image, and decides a moment later
  await cloud.glance.updateImage(newer.id, { protected: true });
  t.after(async () => unprotectAndDelete(await list()));

  const winning = claimAndSettle(cloud, list, ours, logger);
  // The newer claimant decides while ours waits for it: it sees ours claimed and older, and withdraws.
  await waitFor('our claim', async () => (await cloud.glance.getImage(ours.id)).protected === true, 30_000, 50);
  const newerOutcome = await claimAndSettle(cloud, list, newer, logger);
  const survivor = await winning;
  assert.equal(survivor.id, ours.id);
  assert.equal(newerOutcome.id, ours.id, 'both attempts name the same image');
  const left = await list();
  assert.deepEqual(
    left.map((i) => [i.id, i.protected]),
    [[ours.id, false]],
    'the abandoned and the newer image are gone; the survivor is released',
  );
  assert.ok(!left.some((i) => i.id === abandoned.id));
});
