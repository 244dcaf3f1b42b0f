// A secret travels as a reference `{"secret": "NAME"}`; only activities resolve it (src/secrets.ts).
// Pure zod, so workflows can validate inputs with it.
import { z } from 'zod';

export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const SecretRefSchema = z
  .object({ secret: z.string().regex(SECRET_NAME, 'secret names use letters, digits, "_", "." and "-"') })
  .strict();

export type SecretRef = z.infer<typeof SecretRefSchema>;

/** The environment variable that may hold a secret: XENIMAGE_SECRET_ + the name upper-cased, other chars as "_". */
export function secretEnvName(name: string): string {
  return 'XENIMAGE_SECRET_' + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
