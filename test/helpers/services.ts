// Services shared by the test files of one `npm test` run. Each suite that needs a service asks for it through
// the helpers in this folder; when the runner has started one, its endpoint travels in the environment,
// otherwise the helper starts a private one (so a single test file also runs on its own).
export interface SharedServices {
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startSharedServices(_files: string[]): Promise<SharedServices> {
  return { env: {}, stop: async () => {} };
}
