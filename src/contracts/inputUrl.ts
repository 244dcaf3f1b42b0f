// A URL a workflow input names (a disk source, an installer): http or https, without credentials — those travel
// as secret references, never inside a URL that lands in the workflow's history.
import { z } from 'zod';

function withoutCredentials(text: string): boolean {
  try {
    const url = new URL(text);
    return url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

export const InputUrlSchema = z
  .url({ protocol: /^https?$/ })
  .refine(withoutCredentials, 'a URL without credentials (user:password@ is not allowed; use a secret reference)');
