// Facts about the worker host (tools and versions), for the self-check workflow and `xenimage status`.
import { describeHost, type HostReport } from '../src/host/tools.js';
import { activity } from './support.js';

export function hostActivities() {
  return {
    async describeWorkerHost(): Promise<HostReport> {
      return activity(async () => describeHost());
    },
  };
}
