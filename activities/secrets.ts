// Secret checks before a build creates anything: every reference the input names must be allowed for its purpose
// (the configured scopes) and resolve on this worker. Values are read and dropped, never returned.
import { z } from 'zod';
import { SecretRefSchema } from '../src/contracts/secretRef.js';
import type { ActivityDeps } from './deps.js';
import { activity, parse } from './support.js';

const CheckSecretsInputSchema = z
  .object({
    /** What the build's input names: administrator passwords, product keys. */
    refs: z.array(SecretRefSchema).max(32),
  })
  .strict();

export function secretActivities(deps: ActivityDeps) {
  return {
    async checkSecrets(input: z.input<typeof CheckSecretsInputSchema>): Promise<{ checked: string[] }> {
      return activity(async () => {
        const i = parse(CheckSecretsInputSchema, input, 'checkSecrets');
        await deps.secrets.check(i.refs, 'build-input');
        return { checked: i.refs.map((r) => r.secret) };
      });
    },
  };
}
