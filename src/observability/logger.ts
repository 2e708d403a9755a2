// JSON logs through pino. Anything that could carry a credential is redacted by path, so a
// Secret or an Authorization header that ends up in a log call never reaches stdout.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

const redactPaths = [
  'password', '*.password', 'token', '*.token', 'auth', '*.auth', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization', 'data', '*.data', 'stringData', '*.stringData',
  'secret.data', 'credentials', '*.credentials', 'identitytoken', '*.identitytoken',
];

/**
 * The logger's own name goes under `logger` (as zap names it in controller-runtime), not pino's
 * `name`: per-resource lines carry the resource's `namespace` and `name`, and a JSON line must
 * not hold `name` twice.
 */
export function createLogger(options: { level?: LogLevel; destination?: DestinationStream; name?: string } = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    redact: { paths: redactPaths, censor: '[REDACTED]' },
    base: { pid: process.pid, logger: options.name ?? 'hoist-controller' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, options.destination ?? pino.destination({ fd: 1, sync: true }));
}
