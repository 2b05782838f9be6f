import { BaseError } from '../errors.js';

export type ExportErrorCode =
  | 'EXPORT_PROTOCOL_UNSUPPORTED'
  | 'EXPORT_FAILED'
  | 'EXPORT_LEDGER_UNREADABLE'
  | 'EXPORT_CURSOR_IO'
  | 'EXPORT_LISTEN_FAILED';

/** A problem of the OTLP exporters or the Prometheus endpoint; `hint` says what a person can do about it. */
export class ExportError extends BaseError<ExportErrorCode> {
  readonly hint: string | undefined;
  constructor(code: ExportErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(code, message, options);
    this.hint = options?.hint;
  }
}
