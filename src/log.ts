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
          '*.password',
          '*.apiKey',
          '*.access_token',
          '*.headers.authorization',
          '*.headers.cookie',
          'privateKey',
          'token',
          'authorization',
          'secret',
          'password',
          'apiKey',
          'access_token',
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

/**
 * A request URL as logs may show it: the path, and each query parameter's name with its value
 * replaced, since clients do put tokens there (`?token=…`, `?access_token=…`) whatever the docs say.
 */
export function loggableUrl(url: string): string {
  const at = url.indexOf('?');
  if (at === -1) return url.slice(0, 2048);
  const names = url
    .slice(at + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => `${pair.split('=')[0]?.slice(0, 64)}=[redacted]`);
  return `${url.slice(0, Math.min(at, 2048))}?${names.slice(0, 20).join('&')}`;
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
