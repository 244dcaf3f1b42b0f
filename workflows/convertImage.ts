// Generic image: a disk file or URL → tap VHD → tarball → Glance, verified.
import { ConvertImageInputSchema } from '../src/contracts/convertInput.js';
import { imageProperties } from '../src/contracts/imageSpec.js';
import type { ImageVerification } from '../activities/index.js';
import { failBuild } from './build/saga.js';
import { startBuild } from './build/start.js';

export interface ConvertImageResult {
  imageId: string;
  reused: boolean;
  format: string;
  virtualSize: number;
  vhdBytes: number;
  tgzBytes: number;
  checksum: string;
  /** The verification that ran on the image as Glance holds it. */
  verified: ImageVerification;
  warnings: string[];
}

export async function convertImage(rawInput: unknown): Promise<ConvertImageResult> {
  const { build, input, id, general, streaming, saga } = startBuild('convert', ConvertImageInputSchema, rawInput);
  try {
    const source = await build.step(
      'inspect',
      () => general.inspectSource({ source: input.source }),
      (s) => `${s.format}, ${s.virtualSize} bytes`,
    );
    await build.step('check cloud', () => general.checkCloud({ cloud: input.cloud }));

    saga.add('delete the Glance image', () => general.deleteBuildImage({ cloud: input.cloud, build: id }));
    const published = await build.step(
      'convert and upload',
      () =>
        streaming.convertToGlance({
          source: input.source,
          cloud: input.cloud,
          build: id,
          image: input.image,
          properties: imageProperties(input.image, input.vmMode, input.osType, {
            xenimage_source_format: source.format,
          }),
          compressionLevel: input.compressionLevel,
        }),
      (p) => `image ${p.imageId}${p.reused ? ' (reused)' : ''}, ${p.tgzBytes} bytes`,
    );

    const verified = await build.step(
      'verify',
      () =>
        general.verifyImage({
          cloud: input.cloud,
          imageId: published.imageId,
          expectedVirtualSize: source.virtualSize,
        }),
      (r) => `0.vhd ${r.vhdBytes} bytes, virtual ${r.virtualSize}`,
    );
    saga.commit();
    build.setState('succeeded');
    return {
      imageId: published.imageId,
      reused: published.reused,
      format: source.format,
      virtualSize: verified.virtualSize,
      vhdBytes: published.vhdBytes,
      tgzBytes: published.tgzBytes,
      checksum: published.checksum,
      verified,
      warnings: build.warnings,
    };
  } catch (err) {
    throw await failBuild(build, saga, err, {
      keepOnFailure: input.keepOnFailure,
      listLeftovers: () => general.listBuildImages({ cloud: input.cloud, build: id }),
    });
  }
}
