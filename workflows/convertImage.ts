// Generic image: a disk file or URL → tap VHD → tarball → Glance (ARCHITECTURE.md §2).
import { ConvertImageInputSchema } from '../src/contracts/convertInput.js';
import { imageProperties } from '../src/contracts/imageSpec.js';
import {
  BuildTracker,
  Compensations,
  failBuild,
  quickActivities,
  streamingActivities,
  validateInput,
} from './steps.js';

export interface ConvertImageResult {
  imageId: string;
  reused: boolean;
  format: string;
  virtualSize: number;
  vhdBytes: number;
  tgzBytes: number;
  checksum: string;
  verified: boolean;
}

export async function convertImage(rawInput: unknown): Promise<ConvertImageResult> {
  const build = new BuildTracker('convert');
  const input = validateInput(ConvertImageInputSchema, rawInput);
  build.describe(input.image.name);
  const quick = quickActivities();
  const streaming = streamingActivities(input.tuning);
  const saga = new Compensations();
  try {
    const source = await build.step(
      'inspect',
      () => quick.inspectSource({ source: input.source }),
      (s) => `${s.format}, ${s.virtualSize} bytes`,
    );
    await build.step('check cloud', () => quick.checkCloud({ cloud: input.cloud }));

    saga.add('delete the Glance image', () => quick.deleteBuildImage({ cloud: input.cloud }));
    const published = await build.step(
      'convert and upload',
      () =>
        streaming.convertToGlance({
          source: input.source,
          cloud: input.cloud,
          image: input.image,
          properties: imageProperties(input.image, input.vmMode, input.osType, {
            xenimage_source_format: source.format,
          }),
          compressionLevel: input.compressionLevel,
        }),
      (p) => `image ${p.imageId}${p.reused ? ' (reused)' : ''}, ${p.tgzBytes} bytes`,
    );

    const report = await build.step(
      'verify',
      () =>
        quick.verifyImage({ cloud: input.cloud, imageId: published.imageId, expectedVirtualSize: source.virtualSize }),
      (r) => `0.vhd ${r.vhdBytes} bytes, virtual ${r.virtualSize}`,
    );
    build.setState('succeeded');
    return {
      imageId: published.imageId,
      reused: published.reused,
      format: source.format,
      virtualSize: report.virtualSize,
      vhdBytes: published.vhdBytes,
      tgzBytes: published.tgzBytes,
      checksum: published.checksum,
      verified: true,
    };
  } catch (err) {
    throw await failBuild(build, saga, err, {
      keepOnFailure: input.keepOnFailure,
      listLeftovers: () => quick.listBuildImages({ cloud: input.cloud }),
    });
  }
}
