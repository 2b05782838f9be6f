import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * The daemon's structured JSON logger (pino) writing one JSON object per line to stderr (or to the
 * given stream: the demo keeps its log in a file), for
 * journald and log shippers. Fields that could hold secrets are redacted wherever they appear.
 */
export function createLogger(level: string, destination: number | DestinationStream = 2): Logger {
  return pino(
    {
      level,
      base: { service: 'wattledger', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          '*.privateKey',
          '*.token',
          '*.authorization',
          '*.secret',
          'privateKey',
          'token',
          'authorization',
          'secret',
        ],
        censor: '[redacted]',
      },
      // bigint is not JSON: log energy and time values as exact decimal strings.
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map(bigintsToStrings) as Parameters<typeof method>);
        },
      },
    },
    typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination,
  );
}

/** Deep-copies plain objects, turning bigint values into decimal strings. */
export function bigintsToStrings(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(bigintsToStrings);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bigintsToStrings(v)]));
  }
  return value;
}
