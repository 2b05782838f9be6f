import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * The daemon's structured JSON logger (pino) writing one JSON object per line to stderr (or to the
 * given stream: the demo keeps its log in a file), for
 * journald and log shippers. Fields that could hold secrets are redacted wherever they appear.
 */
export function createLogger(
  level: string,
  destination: number | DestinationStream = 2,
  format: 'json' | 'text' = 'json',
): Logger {
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
    typeof destination === 'number'
      ? format === 'text'
        ? textDestination(destination)
        : pino.destination({ dest: destination, sync: true })
      : destination,
  );
}

/**
 * `text` on a terminal, `json` otherwise; `WATTLEDGER_LOG_FORMAT=json|text` decides when set. A
 * person watching `wattledger run` reads lines; journald and log shippers get JSON.
 */
export function logFormatFor(env: NodeJS.ProcessEnv, isTty: boolean): 'json' | 'text' {
  const chosen = env.WATTLEDGER_LOG_FORMAT;
  if (chosen === 'json' || chosen === 'text') return chosen;
  return isTty ? 'text' : 'json';
}

/** A pino destination that writes each record as `HH:MM:SS LEVEL message [code]` on `fd`. */
function textDestination(fd: number): { write(line: string): void } {
  const out = pino.destination({ dest: fd, sync: true });
  return {
    write(line: string): void {
      out.write(`${textLine(line)}\n`);
    },
  };
}

/** One JSON log record as a line for people; the JSON itself when it is not one. */
export function textLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
  const level = String(record.level ?? '')
    .toUpperCase()
    .padEnd(5);
  const code = typeof record.code === 'string' ? `  [${record.code}]` : '';
  return `${time} ${level} ${String(record.msg ?? '')}${code}`;
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
