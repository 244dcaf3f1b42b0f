// A short build-shaped workflow that proves a worker can take work: it runs one activity on the worker host and
// reports which tools it found. `xenimage up` and the platform tests use it as a round trip.
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { XenimageKind, XenimageStep } from '../src/contracts/searchAttributes.js';

const { describeWorkerHost } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3 },
});

export async function selfCheck(): Promise<Awaited<ReturnType<typeof describeWorkerHost>>> {
  upsertSearchAttributes([
    { key: XenimageKind, value: 'self-check' },
    { key: XenimageStep, value: 'probe' },
  ]);
  const report = await describeWorkerHost();
  upsertSearchAttributes([{ key: XenimageStep, value: 'done' }]);
  return report;
}
