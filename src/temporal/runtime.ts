// The Temporal Node runtime is a process-wide singleton created on first use, so it is installed here once,
// before any worker connection: its logs (core, worker, workflow and activity loggers) go to pino, and its
// metrics to a Prometheus endpoint when one is configured.
import { Runtime, type LogLevel, type LogMetadata, type Logger as TemporalLogger } from '@temporalio/worker';
import type { Logger } from '../log.js';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Temporal's Logger interface on top of pino. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.logger[LEVELS[level]]({ ...meta }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

let installed: { prometheus?: string | undefined } | undefined;

export function installRuntime(logger: Logger, options: { prometheus?: string | undefined } = {}): void {
  if (installed) {
    if (installed.prometheus !== options.prometheus) {
      logger.warn(
        { requested: options.prometheus, active: installed.prometheus },
        'Temporal runtime already installed; metrics endpoint unchanged',
      );
    }
    return;
  }
  Runtime.install({
    logger: new PinoTemporalLogger(logger.child({ component: 'temporal' })),
    // The runtime's own signal handling would shut workers down behind the CLI's back.
    shutdownSignals: [],
    telemetryOptions: {
      logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
      ...(options.prometheus ? { metrics: { prometheus: { bindAddress: options.prometheus } } } : {}),
    },
  });
  installed = { prometheus: options.prometheus };
}
