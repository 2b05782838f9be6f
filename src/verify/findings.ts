import type { VerificationErrorCode } from './errors.js';

/**
 * One failed check. Every finding names the batch (its sequence number and where it was read),
 * the check, and the expected versus found values, so a person can act on it.
 */
export interface Finding {
  readonly code: VerificationErrorCode;
  /** Batch sequence number as a decimal string, or null when the batch could not be read. */
  readonly sequence: string | null;
  /** `file:line` or another location of the input. */
  readonly location: string;
  readonly check: string;
  readonly message: string;
  readonly expected?: string;
  readonly found?: string;
}

/** Builds a finding; `expected`/`found` are included only when given. */
export function finding(
  code: VerificationErrorCode,
  where: { readonly sequence: string | null; readonly location: string },
  check: string,
  message: string,
  values: { readonly expected?: string | bigint | number; readonly found?: string | bigint | number } = {},
): Finding {
  return {
    code,
    sequence: where.sequence,
    location: where.location,
    check,
    message,
    ...(values.expected !== undefined ? { expected: String(values.expected) } : {}),
    ...(values.found !== undefined ? { found: String(values.found) } : {}),
  };
}

/** One line naming a finding, as the CLI and reports print it. */
export function describeFinding(f: Finding): string {
  const values = [
    ...(f.expected === undefined ? [] : [`expected ${f.expected}`]),
    ...(f.found === undefined ? [] : [`found ${f.found}`]),
  ];
  const suffix = values.length === 0 ? '' : ` [${values.join(', ')}]`;
  return `batch ${f.sequence ?? '-'} (${f.location}) ${f.check} ${f.code}: ${f.message}${suffix}`;
}
