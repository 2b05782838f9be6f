/**
 * Errors carry a stable machine-readable `code` (area prefix, UPPER_SNAKE) and a lowercase
 * message that names the offending value and, where one exists, what a person can do about it.
 */
export class BaseError<C extends string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_UNREADABLE' | 'CONFIG_PARSE_FAILED';
/** A configuration problem; `problems` lists every invalid field at once. */
export class ConfigError extends BaseError<ConfigErrorCode> {
  readonly problems: readonly ConfigProblem[];
  constructor(
    code: ConfigErrorCode,
    message: string,
    problems: readonly ConfigProblem[] = [],
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.problems = problems;
  }
}

/** One invalid configuration value: where it is, what was expected, what was found. */
export interface ConfigProblem {
  readonly path: string;
  readonly expected: string;
  readonly found: string;
  readonly source?: string;
}

export type ProbeErrorCode =
  | 'PROBE_UNAVAILABLE'
  | 'PROBE_PERMISSION_DENIED'
  | 'PROBE_NOT_SUPPORTED'
  | 'PROBE_NO_DEVICES'
  | 'PROBE_READ_FAILED'
  | 'PROBE_PARSE_FAILED'
  | 'PROBE_TIMEOUT'
  | 'PROBE_DEVICE_LOST'
  | `NVML_${string}`;

/**
 * A probe failure. `open()` throws these; `read()` returns them per device. NVML failures use
 * `NVML_<NAME>` codes (`NVML_GPU_IS_LOST`) and carry the numeric return code and NVML's own text.
 */
export class ProbeError extends BaseError<ProbeErrorCode> {
  readonly hint: string | undefined;
  readonly nvmlReturn: number | undefined;
  constructor(
    code: ProbeErrorCode,
    message: string,
    options?: { cause?: unknown; hint?: string; nvmlReturn?: number },
  ) {
    super(code, message, options);
    this.hint = options?.hint;
    this.nvmlReturn = options?.nvmlReturn;
  }
}

export type CliErrorCode = 'CLI_USAGE' | 'CLI_NO_DEVICES' | 'CLI_IO';
export class CliError extends BaseError<CliErrorCode> {
  readonly hint: string | undefined;
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(code, message, options);
    this.hint = options?.hint;
  }
}

/** Exhaustiveness check for discriminated unions. */
export function assertNever(value: never): never {
  throw new Error(`unexpected variant ${JSON.stringify(value)}`);
}

/** A short, single-line description of any thrown value, for logs and error messages. */
export function describeError(error: unknown): string {
  if (error instanceof BaseError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
