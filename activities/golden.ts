// Golden-image rotation after a scheduled build's image is verified: a thin adapter over src/openstack/golden.ts.
import { z } from 'zod';
import { RETIRE_POLICIES } from '../src/contracts/goldenInput.js';
import { rotateGolden, type Rotation } from '../src/openstack/golden.js';
import type { ActivityDeps } from './deps.js';
import { activity, parse } from './support.js';

const RotateInputSchema = z
  .object({
    cloud: z.string().min(1),
    name: z.string().min(1),
    imageId: z.string().min(1),
    keep: z.number().int().min(1),
    retire: z.enum(RETIRE_POLICIES),
    verifiedAt: z.iso.datetime(),
  })
  .strict();

export function goldenActivities(deps: ActivityDeps) {
  return {
    /** Marks the verified image, makes the newest verified one current, retires those beyond `keep`. */
    async rotateGoldenImages(input: z.input<typeof RotateInputSchema>): Promise<Rotation> {
      return activity(async (signal) => {
        const { cloud: name, ...req } = parse(RotateInputSchema, input, 'rotateGoldenImages');
        const cloud = deps.clouds.open(name);
        try {
          return await rotateGolden(cloud.glance, req, signal);
        } finally {
          await cloud.close();
        }
      });
    },
  };
}
