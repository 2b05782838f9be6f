import { BaseError } from '../errors.js';

/** Stable codes of the on-disk ledger store and reader. */
export type LedgerErrorCode =
  /** A file-system call on the ledger failed (permissions, full disk, EIO, a closed store). */
  | 'LEDGER_IO'
  /** The last segment ends in a partial line (a write interrupted by a crash). */
  | 'LEDGER_TORN_TAIL'
  /** The ledger is damaged beyond a torn tail: a missing segment, a non-final torn segment, bad bytes. */
  | 'LEDGER_CORRUPT'
  /** Another live process holds `ledger.lock`. */
  | 'LEDGER_LOCKED'
  /** A line given to `append` cannot be stored as one line (newline, CR, empty, lone surrogate). */
  | 'LEDGER_INVALID_LINE';

/** Names and numbers that locate a failure; strings or numbers so they log as JSON. */
export type LedgerErrorDetails = Readonly<Record<string, string | number>>;

/**
 * A failure of the ledger store or reader. Messages are lowercase and name the file; `hint`
 * says what an operator can do; `details` carries the file, offset or pid involved.
 */
export class LedgerError extends BaseError<LedgerErrorCode> {
  readonly hint: string | undefined;
  readonly details: LedgerErrorDetails;
  constructor(
    code: LedgerErrorCode,
    message: string,
    options?: { cause?: unknown; hint?: string; details?: LedgerErrorDetails },
  ) {
    super(code, message, options);
    this.hint = options?.hint;
    this.details = options?.details ?? {};
  }
}

/**
 * Wraps a failed file-system call as `LEDGER_IO`, naming the action, the path and the errno code
 * (`cannot fsync /var/lib/wattledger/ledger-000003.jsonl: EIO`). A `LedgerError` passes through.
 */
export function ledgerIoError(action: string, path: string, cause: unknown): LedgerError {
  if (cause instanceof LedgerError) return cause;
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = errno ?? (cause instanceof Error ? cause.message : String(cause));
  return new LedgerError('LEDGER_IO', `cannot ${action} ${path}: ${reason}`, {
    cause,
    hint: ioHint(errno),
    details: { path, action, ...(errno ? { errno } : {}) },
  });
}

function ioHint(errno: string | undefined): string {
  switch (errno) {
    case 'EACCES':
    case 'EPERM':
      return 'check that the daemon user owns the ledger directory (mode 0700) and its files (0600)';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'free disk space on the ledger volume, then restart the daemon (it repairs a torn tail)';
    case 'EIO':
      return 'the device reported an i/o error; check the disk, then restart the daemon';
    default:
      return 'check the ledger directory and the disk, then restart the daemon';
  }
}
