import { badParameter } from './errors.js';

/**
 * Validation of every path and query parameter. Strict on purpose: a misspelt `limt` or a second
 * `from` is refused rather than ignored, so a client never silently gets a page it did not ask for.
 */

/** Decimal digits without sign or leading zeros, at most 16 (then the 2^53 bound is checked). */
const INTEGER = /^(?:0|[1-9][0-9]{0,15})$/;
/** Longest request id accepted in a path. */
export const MAX_REQUEST_ID_LENGTH = 256;
/** Request ids: letters, digits and `._~:@+=-`, starting with a letter or digit. */
export const REQUEST_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._~:@+=-]{0,255}$';
const REQUEST_ID = new RegExp(REQUEST_ID_PATTERN);

/**
 * The query as single strings. Throws `API_BAD_PARAMETER` for a parameter not in `allowed` or one
 * given more than once (the query parser turns repeats into arrays).
 */
export function singleQuery(query: unknown, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    if (!allowed.includes(name))
      throw badParameter(name.slice(0, 64), `one of the known parameters (${allowed.join(', ') || 'none'})`);
    if (typeof value !== 'string') throw badParameter(name, 'given once');
    out[name] = value;
  }
  return out;
}

/** Bounds (inclusive) and the default of an integer parameter. */
export interface IntegerRange {
  readonly min: number;
  readonly max: number;
  /** Used when the parameter is absent; without it the parameter is required. */
  readonly default?: number;
}

/** Parses a decimal integer parameter in `range`. Throws `API_BAD_PARAMETER`. */
export function integerParam(name: string, raw: string | undefined, range: IntegerRange): number {
  if (raw === undefined && range.default !== undefined) return range.default;
  const expected = `an integer from ${range.min} to ${range.max}`;
  if (raw === undefined || !INTEGER.test(raw)) throw badParameter(name, expected);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max)
    throw badParameter(name, expected);
  return value;
}

/** Validates a request id from a path. Throws `API_BAD_PARAMETER`. */
export function requestIdParam(raw: string | undefined): string {
  if (raw === undefined || !REQUEST_ID.test(raw))
    throw badParameter(
      'requestId',
      `1 to ${MAX_REQUEST_ID_LENGTH} characters: letters, digits and ._~:@+=- (starting with a letter or digit)`,
    );
  return raw;
}

/** One of `choices`, or `fallback` when absent. Throws `API_BAD_PARAMETER`. */
export function enumParam<T extends string>(
  name: string,
  raw: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (raw === undefined) return fallback;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  throw badParameter(name, `one of ${choices.join(', ')}`);
}
