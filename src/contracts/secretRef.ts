// Secrets travel as references; only activities resolve them (src/secrets.ts). Pure zod, so workflows can
// validate inputs with it.
// - `{"secret": "NAME"}`: a configured secret (a file of the secrets folder or a XENIMAGE_SECRET_<NAME> variable);
// - `{"generated": PURPOSE, "build": IDENTITY}`: a secret of one build, derived from the build key on whichever
//   worker needs it (docs/decisions/secrets-0001-derived-build-secrets.md). Workflows make these; no input can.
import { z } from 'zod';

export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const SecretRefSchema = z
  .object({ secret: z.string().regex(SECRET_NAME, 'secret names use letters, digits, "_", "." and "-"') })
  .strict();

export type SecretRef = z.infer<typeof SecretRefSchema>;

/** What a build generates for itself. */
const GENERATED_SECRETS = ['windows-admin'] as const;
export type GeneratedSecretPurpose = (typeof GENERATED_SECRETS)[number];

export const GeneratedSecretRefSchema = z
  .object({ generated: z.enum(GENERATED_SECRETS), build: z.string().min(1).max(255) })
  .strict();

export type GeneratedSecretRef = z.infer<typeof GeneratedSecretRefSchema>;

/** Where an activity takes either kind (e.g. the password of a guest connection). */
export const AnySecretRefSchema = z.union([SecretRefSchema, GeneratedSecretRefSchema]);
export type AnySecretRef = z.infer<typeof AnySecretRefSchema>;

export function generatedSecret(generated: GeneratedSecretPurpose, build: string): GeneratedSecretRef {
  return { generated, build };
}

/** The environment variable that may hold a secret: XENIMAGE_SECRET_ + the name upper-cased, other chars as "_". */
export function secretEnvName(name: string): string {
  return 'XENIMAGE_SECRET_' + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
