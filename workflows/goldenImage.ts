// A scheduled golden image (docs/decisions/builds-0004-golden-image-rotation.md): run the build as a child under
// the series' stable image name, tagged xenimage_golden=<schedule>; once its image is verified (the build's commit
// point), rotate the series: the new image becomes current, those beyond `keep` are retired. The rotation comes
// after the commit point, so its failure is a warning, never a failed build.
import {
  CancellationScope,
  executeChild,
  ParentClosePolicy,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import { buildSummary } from '../src/contracts/buildSummary.js';
import { expandImageName, GOLDEN_BUILD_WORKFLOWS, GoldenImageInputSchema } from '../src/contracts/goldenInput.js';
import type { Rotation } from '../activities/index.js';
import { failureText } from './build/failures.js';
import { quickActivities } from './build/proxies.js';
import { validateInput } from './build/validate.js';

export interface GoldenImageResult {
  /** The child build's workflow ID. */
  build: string;
  imageId: string;
  imageName: string;
  /** What the rotation did; absent when it failed (see warnings). */
  rotation?: Rotation;
  warnings: string[];
}

export async function goldenImage(rawInput: unknown): Promise<GoldenImageResult> {
  const input = validateInput(GoldenImageInputSchema, rawInput);
  const started = workflowInfo().startTime;
  const imageName = expandImageName(input.imageName, input.schedule, started);
  const workflowType = GOLDEN_BUILD_WORKFLOWS[input.kind];
  const image = input.build.image as { properties?: Record<string, string> };
  const build = {
    ...input.build,
    image: { ...image, name: imageName, properties: { ...image.properties, xenimage_golden: input.schedule } },
  };
  const { summary, details } = buildSummary(workflowType, build, input.schedule);
  const childId = `${workflowInfo().workflowId}-build`;
  setCurrentDetails(`**building** ${imageName}: child workflow \`${childId}\``);

  const result = await executeChild<(raw: unknown) => Promise<{ imageId: string; warnings: string[] }>>(workflowType, {
    workflowId: childId,
    args: [build],
    // The build's own cleanup runs when this run is cancelled or terminated.
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: summary,
    staticDetails: details,
  });

  // After the commit point: nothing here may fail the build or be cancelled half-way.
  const warnings = [...result.warnings];
  setCurrentDetails(`**rotating** series ${input.schedule}: ${result.imageId} verified`);
  const rotation = await CancellationScope.nonCancellable(async () => {
    try {
      return await quickActivities().rotateGoldenImages.executeWithOptions(
        { summary: `rotate golden series ${input.schedule}` },
        [
          {
            cloud: input.build.cloud,
            name: input.schedule,
            imageId: result.imageId,
            keep: input.keep,
            retire: input.retire,
            verifiedAt: new Date().toISOString(),
          },
        ],
      );
    } catch (err) {
      warnings.push(`rotate golden series ${input.schedule}: ${failureText(err)}`);
      return undefined;
    }
  });
  setCurrentDetails(
    rotation
      ? `**current** ${rotation.current}; kept ${rotation.kept.length}, retired ${rotation.retired.length} (${input.retire})`
      : `**verified** ${result.imageId}; rotation failed (see warnings)`,
  );
  return { build: childId, imageId: result.imageId, imageName, ...(rotation ? { rotation } : {}), warnings };
}
