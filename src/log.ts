// pino logs: JSON lines on stderr (stdout stays free for machine-readable output such as `xenimage lab`),
// readable lines when stderr is a TTY. Secrets are removed twice: by field name (redact) and by value (every
// value resolved through src/secrets.ts is scrubbed from each line before it is written).
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import { forEachKnownSecret } from './secrets.js';

export type { Logger } from 'pino';

export const REDACTED = '[REDACTED]';

// Field names that hold secrets wherever they appear (top level and up to three levels deep).
const SECRET_KEYS = ['password', 'passwd', 'token', 'secret', 'authorization', 'x-auth-token', 'apiKey', 'privateKey'];
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const sep = key.startsWith('[') ? '' : '.';
  return [key, `*${sep}${key}`, `*.*${sep}${key}`, `*.*.*${sep}${key}`];
});

export function scrubKnownSecrets(line: string): string {
  let out = line;
  forEachKnownSecret((value) => {
    if (out.includes(value)) out = out.split(value).join(REDACTED);
    const json = JSON.stringify(value).slice(1, -1); // the value as it appears inside a JSON string
    if (json !== value && out.includes(json)) out = out.split(json).join(REDACTED);
  });
  return out;
}

export interface LogOptions {
  level?: string;
  /** Defaults to stderr; tests pass their own stream to inspect lines. */
  destination?: DestinationStream;
  pretty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.XENIMAGE_LOG_LEVEL ?? 'info';
  const usePretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  const destination =
    options.destination ??
    (usePretty
      ? pretty({ destination: 2, sync: true, colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' })
      : pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: scrubKnownSecrets },
    },
    destination,
  );
}

let root: Logger | undefined;

/** The process-wide logger; modules take children of it. */
export function log(): Logger {
  root ??= createLogger();
  return root;
}

export function setRootLogger(logger: Logger): void {
  root = logger;
}
