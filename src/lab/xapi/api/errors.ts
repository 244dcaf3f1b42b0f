// An XAPI API error: the code and parameter list clients receive in ErrorDescription / error.data.
export class ApiError extends Error {
  readonly code: string;
  readonly params: string[];

  constructor(code: string, params: readonly string[] = []) {
    super(`${code}(${params.join(', ')})`);
    this.code = code;
    this.params = [...params];
  }

  get description(): string[] {
    return [this.code, ...this.params];
  }
}

export function apiError(code: string, ...params: Array<string | number>): ApiError {
  return new ApiError(code, params.map(String));
}

/** Any thrown value as XAPI's ErrorDescription (unexpected exceptions are INTERNAL_ERROR, as in exnHelper.ml). */
export function describeError(err: unknown): string[] {
  if (err instanceof ApiError) return err.description;
  return ['INTERNAL_ERROR', err instanceof Error ? err.message : String(err)];
}
