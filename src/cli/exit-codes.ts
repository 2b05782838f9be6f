/**
 * The one exit-code contract of every command: 0 success; 1 the job's own failure (no GPU,
 * verification failed, a record not found, a seal that failed while running); 2 usage,
 * configuration, key or I/O — something a person fixes in the command line, the configuration,
 * the key files or the file system before trying again.
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Error codes a person fixes outside the job: the command line, the configuration, the keys, the
 * files and addresses it names. Every other code is the job's own failure.
 */
const USAGE_PATTERNS: readonly RegExp[] = [
  /^CLI_(USAGE|IO)$/,
  /^(CONFIG|KEY|EVENTS_TOKENS)_/,
  /^ATTEST_KEY_/,
  /_IO$/, // LEDGER_IO, KEY_IO, EXPORT_CURSOR_IO, EVENTS_TOKENS_IO
  /^LEDGER_(LOCKED|CORRUPT|TORN_TAIL)$/,
  /_LISTEN_FAILED$/, // EXPORT_LISTEN_FAILED, DAEMON_LISTEN_FAILED
  /^EXPORT_(PROTOCOL_UNSUPPORTED|LEDGER_UNREADABLE)$/,
  /^REPORT_(BAD_TIME|BAD_RANGE|LEDGER_NOT_FOUND)$/,
];

/** The exit code of a failure with this stable error code. */
export function exitCodeOf(code: string): typeof EXIT_FAILURE | typeof EXIT_USAGE {
  return USAGE_PATTERNS.some((pattern) => pattern.test(code)) ? EXIT_USAGE : EXIT_FAILURE;
}
