// The logger tests hand to the code under test: quiet unless XENIMAGE_TEST_LOG_LEVEL asks for more.
import { createLogger, type Logger } from '../../src/log.js';

export function testLogger(): Logger {
  return createLogger({ level: process.env.XENIMAGE_TEST_LOG_LEVEL ?? 'warn' });
}
