import { BaseError } from '../errors.js';

/** Stable codes of `wattledger report` and the stats API's aggregation. */
export type ReportErrorCode =
  /** `--from`/`--to` is neither an RFC 3339 time, a date, `now`, nor a relative duration like `24h`. */
  | 'REPORT_BAD_TIME'
  /** The window is empty or reversed: `from` is not before `to`. */
  | 'REPORT_BAD_RANGE'
  /** The ledger directory does not exist or is not a directory. */
  | 'REPORT_LEDGER_NOT_FOUND'
  /** The ledger cannot be read as a whole (a missing segment): a report of it would silently omit batches. */
  | 'REPORT_LEDGER_DAMAGED';

/** A report cannot be made; `hint` says what to do. */
export class ReportError extends BaseError<ReportErrorCode> {
  readonly hint: string | undefined;
  constructor(code: ReportErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
  }
}
